"""Writing a new ticket: the idempotency key's claim, the ticket, its first event and the
notice to its assignee, in the session's transaction.

On PostgreSQL it is ONE statement (data-modifying CTEs): the claim is an INSERT ... ON CONFLICT
DO NOTHING, and the other rows are inserted only from the claim's RETURNING row, so a key
already taken writes nothing (a concurrent twin waits on the key's unique index until the
first transaction ends, then finds its row). The foreign keys between the rows are checked at
the end of the statement. Each row but the claim travels as ONE json value, read back into
the table's row type by json_populate_record: seven parameters (the claim's four, then one
per row) instead of one per column (66), which keeps the statement in psycopg's cache of
parsed queries (at most 50 parameters) and spares a type conversion per value on both sides. The statement is written once, at import, from the
models' tables. bench/bare_insert_app.py's "floor" is the same shape with nothing else around it.

SQLite has no data-modifying CTEs: there the same rows are written by one statement each,
claim first (SQLite has one writer at a time, so a twin waits for the whole transaction), the
key's ticket set last.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached

from webapp.columns import UTCDateTime
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.tickets.models import IdempotencyRecord, Ticket, TicketEvent

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


_UTC = UTCDateTime()


def _json_value(value):
    """A value json.dumps cannot write itself: a timestamp, in UTC as UTCDateTime stores it
    (a naive one is refused there), in ISO 8601, which PostgreSQL reads back exactly."""
    if isinstance(value, datetime):
        return _UTC.process_bind_param(value, None).isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as a column value")


def _as_json(row: dict) -> str:
    # Enum members are str subclasses: written as their values, as their columns store them.
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_json_value)


def _insert_from_json(table, columns, param: str, source: str) -> str:
    """INSERT INTO table (columns) SELECT them from the json :param, once per row of source."""
    quote = postgresql.dialect().identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    picked = ", ".join(f"r.{quote(c)}" for c in columns)
    return (
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {picked} "
        f"FROM {source}, json_populate_record(NULL::{quote(table.name)}, CAST(:{param} AS json)) AS r"
    )


def _postgresql_statement(with_message: bool):
    record_columns = ", ".join(_RECORD_COLUMNS)
    parts = [
        f"claim AS (INSERT INTO {_records.name} ({record_columns}) "
        f"VALUES ({', '.join(':k_' + c for c in _RECORD_COLUMNS)}) "
        "ON CONFLICT (key_hash) DO NOTHING RETURNING id)",
        f"ticket AS ({_insert_from_json(_tickets, _TICKET_COLUMNS, 'ticket', 'claim')} RETURNING id)",
        f"event AS ({_insert_from_json(_events, _EVENT_COLUMNS, 'event', 'ticket')})",
    ]
    if with_message:
        parts.append(f"message AS ({_insert_from_json(_messages, _MESSAGE_COLUMNS, 'message', 'ticket')})")
    return text("WITH " + ",\n".join(parts) + "\nSELECT id FROM claim").bindparams(
        bindparam("k_created_at", type_=_records.c.created_at.type)
    )


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
        params["ticket"] = _as_json(ticket_row)
        params["event"] = _as_json(event_row)
        if message is not None:
            params["message"] = _as_json({k: message.get(k) for k in _MESSAGE_COLUMNS})
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
