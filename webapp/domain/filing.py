"""Writing a new ticket: the idempotency key's claim, the ticket, its first event and the
notice to its assignee, in the session's transaction.

On PostgreSQL it is ONE statement (data-modifying CTEs): the claim is an INSERT ... ON CONFLICT
DO NOTHING, and the other rows are inserted only from the claim's RETURNING row, so a key
already taken writes nothing (a concurrent twin waits on the key's unique index until the
first transaction ends, then finds its row). The foreign keys between the rows are checked at
the end of the statement. The statement is built once at import; its compiled form is cached.
bench/bare_insert_app.py's "floor" is the same shape with nothing else around it.

SQLite has no data-modifying CTEs: there the same rows are written by one statement each,
claim first (SQLite has one writer at a time, so a twin waits for the whole transaction), the
key's ticket set last.
"""
from __future__ import annotations

from sqlalchemy import bindparam, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached

from webapp.extensions import db
from webapp.models import IdempotencyRecord, Ticket, TicketEvent
from webapp.models.outbox import OutboxMessage

_records = IdempotencyRecord.__table__
_tickets = Ticket.__table__
_events = TicketEvent.__table__
_messages = OutboxMessage.__table__

_RECORD_COLUMNS = ("key_hash", "fingerprint", "ticket_id", "created_at")
_TICKET_COLUMNS = tuple(c.key for c in _tickets.columns)
_EVENT_COLUMNS = tuple(c.key for c in _events.columns if c.key != "id")
_MESSAGE_COLUMNS = tuple(c.key for c in _messages.columns if c.key in {
    "person_id", "channel", "kind", "ticket_id", "template_id", "payload", "dedupe_key", "state",
    "attempts", "next_attempt_at", "created_at",
})


def _typed(table, prefix: str, columns) -> list:
    """One bound value per column, of the column's type, named prefix + column. (A value in a
    SELECT list has no type of its own: SQLAlchemy's psycopg dialect writes each with a cast
    to its type, e.g. %(t_grid_id)s::INTEGER; a string without one is taken as text, which
    the INSERT converts to the column's type.)"""
    return [bindparam(prefix + key, type_=table.c[key].type) for key in columns]


def _postgresql_statement(with_message: bool):
    claim = (
        postgresql.insert(_records)
        .from_select(list(_RECORD_COLUMNS), select(*_typed(_records, "k_", _RECORD_COLUMNS)))
        .on_conflict_do_nothing(index_elements=["key_hash"])
        .returning(_records.c.id)
        .cte("claim")
    )
    ticket = (
        insert(_tickets)
        .from_select(
            list(_TICKET_COLUMNS),
            select(*_typed(_tickets, "t_", _TICKET_COLUMNS)).where(exists(select(claim.c.id))),
        )
        .returning(_tickets.c.id)
        .cte("ticket")
    )
    event = insert(_events).from_select(
        list(_EVENT_COLUMNS), select(*_typed(_events, "e_", _EVENT_COLUMNS)).select_from(ticket)
    ).cte("event")
    writes = [event]
    if with_message:
        writes.append(
            insert(_messages).from_select(
                list(_MESSAGE_COLUMNS),
                select(*_typed(_messages, "m_", _MESSAGE_COLUMNS)).select_from(ticket),
            ).cte("message")
        )
    return select(claim.c.id).add_cte(*writes)


_POSTGRESQL = {True: _postgresql_statement(True), False: _postgresql_statement(False)}


def file_ticket(
    ticket: Ticket, event: TicketEvent, message: dict | None, key_hash: str, fingerprint: str
) -> int | None:
    """Claim the key and write the new ticket (transient: every column set), its event and
    the outbox row `message` (outbox.message_row, or None); the ticket then joins the session
    as if loaded. Returns the claim's id, or None when the key was taken (nothing written)."""
    record = {
        "key_hash": key_hash, "fingerprint": fingerprint, "ticket_id": ticket.id,
        "created_at": ticket.created_at,
    }
    values = ticket.__dict__
    ticket_row = {key: values[key] for key in _TICKET_COLUMNS}
    event_values = event.__dict__
    event_row = {key: event_values.get(key) for key in _EVENT_COLUMNS}
    event_row["ticket_id"] = ticket.id
    if db.session.get_bind().dialect.name == "postgresql":
        params = {f"k_{k}": v for k, v in record.items()}
        params.update((f"t_{k}", v) for k, v in ticket_row.items())
        params.update((f"e_{k}", v) for k, v in event_row.items())
        if message is not None:
            params.update((f"m_{k}", message.get(k)) for k in _MESSAGE_COLUMNS)
        record_id = db.session.execute(_POSTGRESQL[message is not None], params).scalar()
    else:
        # The key's ticket is set once the ticket exists (foreign keys are checked at once).
        record_id = db.session.execute(
            sqlite.insert(_records).values({**record, "ticket_id": None})
            .on_conflict_do_nothing(index_elements=["key_hash"])
            .returning(_records.c.id)
        ).scalar()
        if record_id is not None:
            db.session.execute(insert(_tickets), ticket_row)
            db.session.execute(insert(_events), event_row)
            if message is not None:
                db.session.execute(insert(_messages), message)
            db.session.execute(
                update(_records).where(_records.c.id == record_id).values(ticket_id=ticket.id)
            )
    if record_id is None:
        return None
    make_transient_to_detached(ticket)
    db.session.add(ticket)
    return record_id
