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

The ticket's and the event's rows are derived from their tables (_NewRows), never from a list
of their columns: every column, with the value set on the object or else the column's own
default, as the ORM's flush would write it. A column added to the model is written here
without a second edit.
"""
from __future__ import annotations

import inspect as pyinspect
from datetime import datetime

import orjson
from sqlalchemy import bindparam, insert, inspect, literal, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.schema import DefaultClause

from webapp.columns import UTCDateTime
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.reads import PreparedStatement, read_connection
from webapp.tickets.models import IdempotencyRecord, Ticket, TicketEvent

_records = IdempotencyRecord.__table__
_messages = OutboxMessage.__table__

_RECORD_COLUMNS = ("key_hash", "fingerprint", "ticket_id", "created_at")
_MESSAGE_COLUMNS = tuple(c.key for c in _messages.columns if c.key in {
    "person_id", "channel", "kind", "ticket_id", "template_id", "payload", "dedupe_key", "state",
    "attempts", "next_attempt_at", "created_at",
})

# How a column's value is found when the object has none (_NewRows).
_NO_DEFAULT, _SCALAR, _CALLABLE, _SQL, _VERSION = range(5)
_PG_LITERALS = postgresql.dialect(paramstyle="named")  # no doubled "%" in a default's text


class _NewRows:
    """A new row of one mapped table, from its columns: the value set on the object (its
    mapped attribute), else what the ORM's flush would write, i.e. the column's default:

    - a Python scalar default (`default=0`) or callable (`default=utcnow`; SQLAlchemy wraps
      a callable of no argument into one of the execution context, given None here: a default
      that needs the context is refused at import);
    - the mapper's version counter (version_id_col): version_id_generator(None), always, as
      the ORM's insert does;
    - a SQL default (a server_default, or a SQL expression as default): left to the database
      (the row leaves the column out; on PostgreSQL the statement writes COALESCE(value,
      default)); the object's attribute is then loaded on first access;
    - none: NULL.

    As in the ORM, None set on a column with a default means "not set" (except for a type
    that stores None as a value, such as JSON). The autoincrement primary key is not written.
    Values filled in from defaults are also set on the object (as committed values), so it
    carries every column value, as after a flush."""

    def __init__(self, mapper, table):
        self.table = table
        version = mapper.version_id_col if mapper.version_id_generator is not False else None
        plan = []
        self.sql_defaults = {}  # column key → its SQL default, as PostgreSQL text
        for column in table.columns:
            if column is table.autoincrement_column:
                continue
            default, server_default = column.default, column.server_default
            if column is version:
                kind, arg = _VERSION, mapper.version_id_generator
            elif default is not None and default.is_scalar:
                kind, arg = _SCALAR, default.arg
            elif default is not None and default.is_callable:
                if _needs_context(default.arg):
                    raise TypeError(f"filing: {column} has a default of its execution context")
                kind, arg = _CALLABLE, default.arg
            elif default is not None and default.is_clause_element:
                kind, arg = _SQL, default.arg
            elif default is None and isinstance(server_default, DefaultClause):
                kind, arg = _SQL, server_default.arg
            elif default is None and server_default is None:
                kind, arg = _NO_DEFAULT, None
            else:  # a Sequence, an Identity, a Computed column, a trigger (FetchedValue)...
                raise TypeError(f"filing: cannot write {column} ({default or server_default!r})")
            if column.key != column.name:  # json_populate_record reads the names
                raise TypeError(f"filing: {column} has a key other than its name")
            if kind is _SQL:
                self.sql_defaults[column.key] = _sql_text(arg)
            attr = mapper.get_property_by_column(column).key
            plan.append((attr, column.key, kind, arg, column.type.should_evaluate_none))
        self._plan = tuple(plan)
        self.columns = tuple(key for _, key, *_ in plan)  # written, in the table's order

    def row(self, obj) -> dict:
        """The row of the new object `obj`, whose missing values are set on it."""
        values = inspect(obj).dict
        row = {}
        for attr, key, kind, arg, evaluates_none in self._plan:
            value = values.get(attr)
            if kind is _VERSION:
                value = arg(None)
            elif value is not None or (evaluates_none and attr in values):
                row[key] = value
                continue
            elif kind is _SCALAR:
                value = arg
            elif kind is _CALLABLE:
                value = arg(None)
            elif kind is _SQL:  # the database's default, read on first access
                if attr in values:
                    delattr(obj, attr)
                continue
            elif evaluates_none:  # NULL: left out, as None would be written as a JSON null
                set_committed_value(obj, attr, None)
                continue
            if attr not in values or values[attr] is not value:
                set_committed_value(obj, attr, value)
            row[key] = value
        return row


def _needs_context(fn) -> bool:
    """Whether a wrapped callable default is the model's function of the context (a function
    of no argument is wrapped, and its signature is that of the function)."""
    try:
        parameters = pyinspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in parameters
    )


def _sql_text(arg) -> str:
    """A SQL default (a server_default's string or clause, a SQL expression) as PostgreSQL text."""
    clause = literal(arg) if isinstance(arg, str) else arg
    return str(clause.compile(dialect=_PG_LITERALS, compile_kwargs={"literal_binds": True}))


TICKET_ROWS = _NewRows(Ticket.__mapper__, Ticket.__table__)
EVENT_ROWS = _NewRows(TicketEvent.__mapper__, TicketEvent.__table__)

_UTC = UTCDateTime()


def _json_value(value):
    """A value orjson is not to write itself: a timestamp, in UTC as UTCDateTime stores it
    (a naive one is refused there), in ISO 8601, which PostgreSQL reads back exactly."""
    if isinstance(value, datetime):
        return _UTC.process_bind_param(value, None).isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as a column value")


def _as_json(row: dict) -> str:
    """The row as one json text (orjson, cheaper than json.dumps: docs/performance.md). Enum members
    are written as their values, as their columns store them; timestamps by _json_value; the
    keys are the columns' names (SQLAlchemy's quoted_name, a str subclass: OPT_NON_STR_KEYS)."""
    return orjson.dumps(row, default=_json_value, option=_ROW_OPTIONS).decode()


_ROW_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _insert_from_json(table, columns, param: str, source: str, sql_defaults=None) -> str:
    """INSERT INTO table (columns) SELECT them from the json :param, once per row of source;
    a column of sql_defaults (key → SQL text) missing from the json takes that default."""
    quote = postgresql.dialect().identifier_preparer.quote
    sql_defaults = sql_defaults or {}
    names = ", ".join(quote(c) for c in columns)
    picked = ", ".join(
        f"COALESCE(r.{quote(c)}, {sql_defaults[c]})" if c in sql_defaults else f"r.{quote(c)}"
        for c in columns
    )
    return (
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {picked} "  # nosec B608  # quoted names of the models' columns
        f"FROM {source}, json_populate_record(NULL::{quote(table.name)}, CAST(:{param} AS json)) AS r"
    )


def _postgresql_statement(with_message: bool):
    record_columns = ", ".join(_RECORD_COLUMNS)
    tickets, events = TICKET_ROWS, EVENT_ROWS
    ticket = _insert_from_json(
        tickets.table, tickets.columns, "ticket", "claim", tickets.sql_defaults
    )
    event = _insert_from_json(events.table, events.columns, "event", "ticket", events.sql_defaults)
    parts = [
        f"claim AS (INSERT INTO {_records.name} ({record_columns}) "  # nosec B608  # constant names; values are bound
        f"VALUES ({', '.join(':k_' + c for c in _RECORD_COLUMNS)}) "
        "ON CONFLICT (key_hash) DO NOTHING RETURNING id)",
        f"ticket AS ({ticket} RETURNING id)",
        f"event AS ({event})",
    ]
    if with_message:
        parts.append(f"message AS ({_insert_from_json(_messages, _MESSAGE_COLUMNS, 'message', 'ticket')})")
    return text("WITH " + ",\n".join(parts) + "\nSELECT id FROM claim").bindparams(  # nosec B608  # built above
        bindparam("k_created_at", type_=_records.c.created_at.type)
    )


_POSTGRESQL = {
    with_message: PreparedStatement(_postgresql_statement(with_message)) for with_message in (True, False)
}


def file_ticket(
    ticket: Ticket, event: TicketEvent, message: dict | None, key_hash: str, fingerprint: str,
    *, on_its_own: bool = False,
) -> int | None:
    """Claim the key and write the new (transient) ticket, its event and the outbox row
    `message` (outbox.message_row, or None); the ticket, its column defaults filled in, then
    joins the session as if loaded. Returns the claim's id, or None when the key was taken
    (nothing written).

    on_its_own (PostgreSQL; ignored elsewhere): these rows are all the request writes (a
    submission with no photo to claim), so the one statement runs in autocommit, on a pooled
    connection outside the session's transaction (read_connection): it commits by itself,
    durably (the server's synchronous_commit), all or nothing as any statement, and saves the
    BEGIN and COMMIT round trips. A twin waiting on the key's claim then waits for this
    statement only. The ticket then stays out of the session: detached, every column loaded
    but those with a SQL default (rolled_up), nothing to commit. Otherwise the rows are
    written in the session's transaction, which the caller commits."""
    ticket_row = TICKET_ROWS.row(ticket)
    event_row = EVENT_ROWS.row(event)
    event_row["ticket_id"] = ticket.id
    record = {
        "key_hash": key_hash, "fingerprint": fingerprint, "ticket_id": ticket.id,
        "created_at": ticket.created_at,
    }
    postgres = db.engine.dialect.name == "postgresql"
    alone = on_its_own and postgres  # written and committed apart from the session
    if postgres:
        params = {f"k_{k}": v for k, v in record.items()}
        params["ticket"] = _as_json(ticket_row)
        params["event"] = _as_json(event_row)
        if message is not None:
            params["message"] = _as_json({k: message.get(k) for k in _MESSAGE_COLUMNS})
        statement = _POSTGRESQL[message is not None]
        if alone:
            with read_connection() as connection:
                claim = statement.rows(connection, params)
        else:  # on the session's connection (its transaction): nothing is pending to flush
            claim = statement.rows(db.session.connection(), params)
        record_id = claim[0][0] if claim else None
    else:
        # The key's ticket is set once the ticket exists (foreign keys are checked at once).
        record_id = db.session.execute(
            sqlite.insert(_records).values({**record, "ticket_id": None})
            .on_conflict_do_nothing(index_elements=["key_hash"])
            .returning(_records.c.id)
        ).scalar()
        if record_id is not None:
            db.session.execute(insert(TICKET_ROWS.table), ticket_row)
            db.session.execute(insert(EVENT_ROWS.table), event_row)
            if message is not None:
                db.session.execute(insert(_messages), message)
            db.session.execute(
                update(_records).where(_records.c.id == record_id).values(ticket_id=ticket.id)
            )
    if record_id is None:
        return None
    make_transient_to_detached(ticket)
    if not alone:
        db.session.add(ticket)
    return record_id
