"""Writing a new ticket: the idempotency key's claim, the ticket, its first event and the
notice to its assignee.

On PostgreSQL it is ONE statement with the submission's facts (routed_statement): the facts
query is a CTE, the claim an INSERT ... ON CONFLICT DO NOTHING from it when the code is live
and the unit exists, the day's number an upsert of the street's counter from the claim, and
the other rows are inserted only from those, so a refused submission or a key already taken
writes nothing (a concurrent twin waits on the key's unique index until the first
transaction ends, then finds its row). What the facts decide (the place, the unit, the
number, routing's assignee and rule) the statement writes itself; the rest of each row comes
from Python as ONE json value, read back into the table's row type by json_populate_record:
a parameter per row instead of one per column (66), which spares a type conversion per value
on both sides. The statement is written once, at import, from the models' tables.
bench/bare_insert_app.py's "floor" is the rows' part of it with nothing else around it.

Elsewhere (SQLite, which has no data-modifying CTEs) file_ticket writes the same rows by one
statement each, claim first (SQLite has one writer at a time, so a twin waits for the whole
transaction), the key's ticket set last.

The ticket's and the event's rows are derived from their tables (_NewRows), never from a list
of their columns: every column, with the value set on the object or else the column's own
default, as the ORM's flush would write it. A column added to the model is written here
without a second edit (routed_statement names only the columns it decides:
ROUTED_TICKET_COLUMNS).
"""
from __future__ import annotations

import inspect as pyinspect
import re
from datetime import datetime

import orjson
from sqlalchemy import bindparam, column, insert, inspect, literal, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.schema import DefaultClause

from webapp.columns import UTCDateTime
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.notifications.templates import NUMBER_FITS_SQL
from webapp.reads import PreparedStatement, read_connection
from webapp.tickets import state_machine
from webapp.tickets.models import IdempotencyRecord, Ticket, TicketCounter, TicketEvent

_records = IdempotencyRecord.__table__
_messages = OutboxMessage.__table__
_counters = TicketCounter.__table__

_RECORD_COLUMNS = ("key_hash", "fingerprint", "ticket_id", "created_at")
_MESSAGE_COLUMNS = tuple(c.key for c in _messages.columns if c.key in {
    "person_id", "channel", "kind", "ticket_id", "template_id", "payload", "dedupe_key", "state",
    "attempts", "next_attempt_at", "created_at",
})

# How a column's value is found when the object has none (_NewRows).
_NO_DEFAULT, _SCALAR, _CALLABLE, _SQL, _VERSION = range(5)
_PG_LITERALS = postgresql.dialect(paramstyle="named")  # no doubled "%" in a default's text
# A Core statement as the text of another (routed_statement): named parameters without casts
# (":unit::VARCHAR" is no parameter for text()); their types travel as the text's bindparams.
_PG_TEXT = postgresql.dialect(paramstyle="named")
_PG_TEXT.bind_typing = BindTyping.NONE


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
                _set_loaded(obj, values, attr, None)
                continue
            if attr not in values or values[attr] is not value:
                _set_loaded(obj, values, attr, value)
            row[key] = value
        return row


def _set_loaded(obj, values: dict, attr: str, value) -> None:
    """`value` on the object as if loaded: an attribute never set goes into the instance's dict
    (InstanceState.dict: no history to clear, no event), one set before through
    set_committed_value, which forgets its change."""
    if attr in values:
        set_committed_value(obj, attr, value)
    else:
        values[attr] = value


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


def _insert_from_json(
    table, columns, param: str, source: str, sql_defaults=None, overrides=None, where: str = "",
    json: str | None = None,
) -> str:
    """INSERT INTO table (columns) SELECT them from the json :param, once per row of source;
    a column of sql_defaults (key → SQL text) missing from the json takes that default, a
    column of overrides (key → SQL text over source and r, the json's row) takes that value;
    `where` filters; `json` is the SQL of the json text, when not :param itself."""
    quote = postgresql.dialect().identifier_preparer.quote
    sql_defaults, overrides = sql_defaults or {}, overrides or {}
    names = ", ".join(quote(c) for c in columns)
    picked = ", ".join(
        overrides[c] if c in overrides
        else f"COALESCE(r.{quote(c)}, {sql_defaults[c]})" if c in sql_defaults else f"r.{quote(c)}"
        for c in columns
    )
    return (
        f"INSERT INTO {quote(table.name)} ({names}) SELECT {picked} "  # nosec B608  # quoted names of the models' columns
        f"FROM {source}, json_populate_record(NULL::{quote(table.name)}, CAST({json or ':' + param} AS json)) AS r"
        + (f" WHERE {where}" if where else "")
    )


# --- the submission on PostgreSQL: the facts, the routing and the rows in one statement ---

NUMBER_MARK = "@@TICKET-NUMBER@@"  # the ticket's number in the notice's json, until the statement knows it
UNROUTED = state_machine.UNROUTED_STATUS.value


_IS_ROUTED = "facts.route_assignee_id IS NOT NULL"
# The ticket's columns routed_statement writes from the facts (over the CTEs facts, taken and
# r, the json's row); the others come from the json. (The only ticket columns filing.py names.)
ROUTED_TICKET_COLUMNS = {
    "number": (  # as submission._number writes it (SQLite)
        "facts.ticket_prefix || :scope_day || '-' || "
        "lpad(CAST(taken.value AS text), greatest(4, length(CAST(taken.value AS text))), '0')"
    ),
    **{key: f"facts.{key}" for key in ("building_id", "grid_id", "community_id", "street_id")},
    "unit_id": "CASE WHEN :unit = '' THEN NULL ELSE facts.unit_id END",
    "duplicate_of_id": "facts.duplicate_id",  # a report's only, as the facts read them
    "is_rider_report": "facts.is_rider",
    "assignee_id": "facts.route_assignee_id",
    "status": f"CASE WHEN {_IS_ROUTED} THEN r.status ELSE '{UNROUTED}' END",
    **{key: f"CASE WHEN {_IS_ROUTED} THEN r.{key} END" for key in state_machine.CLOCK_COLUMNS},
}


def routed_statement(facts, *, with_message: bool) -> PreparedStatement:
    """The submission's one statement on PostgreSQL (webapp/tickets/submission.py): `facts`
    (a Core select of one row: the code's place, unit, routing facts and decision, duplicate,
    rider, earlier claim) as a CTE, and from it, when the code is live, the unit asked for
    exists and the key has no earlier claim: the key's claim (ON CONFLICT DO NOTHING), the
    street's next number of the day (the counter's row, locked until the statement commits),
    the ticket, its first event and, with_message, the notice to its assignee. Returns the
    facts row with claim_id (None: nothing written), ticket_number and number_fits.

    The rows come from Python (json, as file_ticket's) with what only the facts decide
    written by the statement: the place's columns, the unit, the number, the assignee, and
    for a ticket routed to nobody the queue's status with no clock (state_machine.
    UNROUTED_STATUS, CLOCK_COLUMNS); the event's rule, note and status; the notice's person
    (nobody is told about their own action: notices.assignee_notice) and its number, which
    the json carries as NUMBER_MARK. A notice is only written this way when the number goes
    into it unchanged (the caller checks the template; the statement checks the street's
    prefix: NUMBER_FITS_SQL): otherwise the statement writes nothing, claim_id None and
    number_fits false, and the caller writes the rows without the notice and the notice by
    itself, in one transaction."""
    compiled = facts.compile(dialect=_PG_TEXT)
    binds = [  # the facts' parameters, with their types and the values of constants (a LIMIT is in the text)
        bindparam(name, value=bind.value, type_=bind.type)
        for bind, name in compiled.bind_names.items()
        if re.search(rf":{name}\b", compiled.string)
    ]
    fits = f"facts.ticket_prefix ~ '{NUMBER_FITS_SQL}'"
    ready = (
        "facts.revoked_at IS NULL AND facts.claimed_key IS NULL"
        " AND (:unit = '' OR facts.unit_id IS NOT NULL)" + (f" AND {fits}" if with_message else "")
    )
    record_columns = ", ".join(_RECORD_COLUMNS)
    event_overrides = {
        "rule": "facts.route_rule",
        "note": "facts.route_note",
        "to_status": f"CASE WHEN {_IS_ROUTED} THEN r.to_status ELSE '{UNROUTED}' END",
        "ticket_id": "ticket.id",
    }
    tickets, events = TICKET_ROWS, EVENT_ROWS
    parts = [
        "facts AS (" + compiled.string + ")",
        f"claim AS (INSERT INTO {_records.name} ({record_columns}) "  # nosec B608  # constant names; values are bound
        f"SELECT {', '.join(':k_' + c for c in _RECORD_COLUMNS)} FROM facts WHERE {ready} "
        "ON CONFLICT (key_hash) DO NOTHING RETURNING id)",
        f"taken AS (INSERT INTO {_counters.name} (scope, value) "  # nosec B608  # constant names
        "SELECT facts.ticket_prefix || :scope_day, 1 FROM facts, claim "
        f"ON CONFLICT (scope) DO UPDATE SET value = {_counters.name}.value + 1 RETURNING value)",
        "ticket AS ("
        + _insert_from_json(
            tickets.table, tickets.columns, "ticket", "facts, taken", tickets.sql_defaults, ROUTED_TICKET_COLUMNS
        )
        + " RETURNING id, number)",
        "event AS ("
        + _insert_from_json(events.table, events.columns, "event", "ticket, facts", events.sql_defaults, event_overrides)
        + ")",
    ]
    if with_message:
        parts.append(
            "message AS ("
            + _insert_from_json(
                _messages, _MESSAGE_COLUMNS, "message", "ticket, facts",
                overrides={"person_id": "facts.route_assignee_id"},
                where=f"{_IS_ROUTED} AND (CAST(:event_actor_id AS text) IS NULL "
                "OR facts.route_assignee_id <> :event_actor_id)",
                json=f"replace(:message, '\"{NUMBER_MARK}\"', CAST(to_json(ticket.number) AS text))",
            )
            + ")"
        )
    names = [*facts.selected_columns.keys(), "claim_id", "ticket_number", "number_fits"]
    answer = "SELECT facts.*, (SELECT id FROM claim) AS claim_id, (SELECT number FROM ticket) AS ticket_number"
    sql = "WITH " + ",\n".join(parts) + f"\n{answer}, {fits} AS number_fits FROM facts"
    statement = text(sql).bindparams(
        *binds, bindparam("k_created_at", type_=_records.c.created_at.type)
    ).columns(*(column(name) for name in names))
    return PreparedStatement(statement)


def file_routed(
    statement: PreparedStatement, ticket: Ticket, event: TicketEvent, message: dict | None,
    key_hash: str, fingerprint: str, params: dict, *, on_its_own: bool,
):
    """Run routed_statement (with_message when `message` is given) for the new transient
    ticket, its event and notice, built with the facts still unknown (see there); `params`
    are the facts' parameters. Returns the statement's row (None: the code is unknown).

    on_its_own: in autocommit on a connection of its own (read_connection), committed by
    itself, durably; otherwise on the session's connection, in its transaction. When the
    ticket is written (claim_id), it carries the values the statement decided and joins the
    session as if loaded (on_its_own: stays detached, every column loaded but those with a
    SQL default)."""
    values = {f"k_{k}": v for k, v in _record(ticket, key_hash, fingerprint).items()}
    values.update(params)
    values["ticket"] = _as_json(TICKET_ROWS.row(ticket))
    event_row = EVENT_ROWS.row(event)
    event_row["ticket_id"] = ticket.id
    values["event"] = _as_json(event_row)
    if message is not None:
        values["message"] = _as_json({k: message.get(k) for k in _MESSAGE_COLUMNS})
        values["event_actor_id"] = event.actor_id
    if on_its_own:
        with read_connection() as connection:
            row = statement.first(connection, values)
    else:
        row = statement.first(db.session.connection(), values)
    if row is None or row.claim_id is None:
        return row
    decided = {
        "number": row.ticket_number,
        "building_id": row.building_id, "grid_id": row.grid_id,
        "community_id": row.community_id, "street_id": row.street_id,
        "unit_id": row.unit_id if params["unit"] else None,
        "duplicate_of_id": row.duplicate_id,
        "is_rider_report": row.is_rider,
        "assignee_id": row.route_assignee_id,
    }
    if row.route_assignee_id is None:
        decided["status"] = state_machine.UNROUTED_STATUS
        decided.update(dict.fromkeys(state_machine.CLOCK_COLUMNS))
    for key, value in decided.items():
        set_committed_value(ticket, key, value)
    event.rule, event.note = row.route_rule, row.route_note
    if row.route_assignee_id is None:
        event.to_status = UNROUTED
    make_transient_to_detached(ticket)
    if not on_its_own:
        db.session.add(ticket)
    return row


def _record(ticket: Ticket, key_hash: str, fingerprint: str) -> dict:
    return {
        "key_hash": key_hash, "fingerprint": fingerprint, "ticket_id": ticket.id,
        "created_at": ticket.created_at,
    }


def file_ticket(
    ticket: Ticket, event: TicketEvent, message: dict | None, key_hash: str, fingerprint: str,
) -> int | None:
    """Claim the key and write the new (transient) ticket, its event and the outbox row
    `message` (outbox.message_row, or None), one statement each, in the session's
    transaction (SQLite's submission: submission._submit_in_steps; any database takes it);
    the ticket, its column defaults filled in, then joins the session as if loaded. Returns
    the claim's id, or None when the key was taken (nothing written). The key's ticket is
    set once the ticket exists (foreign keys are checked at once)."""
    ticket_row = TICKET_ROWS.row(ticket)
    event_row = EVENT_ROWS.row(event)
    event_row["ticket_id"] = ticket.id
    record = _record(ticket, key_hash, fingerprint)
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    record_id = db.session.execute(
        dialect.insert(_records).values({**record, "ticket_id": None})
        .on_conflict_do_nothing(index_elements=["key_hash"])
        .returning(_records.c.id)
    ).scalar()
    if record_id is None:
        return None
    db.session.execute(insert(TICKET_ROWS.table), ticket_row)
    db.session.execute(insert(EVENT_ROWS.table), event_row)
    if message is not None:
        db.session.execute(insert(_messages), message)
    db.session.execute(update(_records).where(_records.c.id == record_id).values(ticket_id=ticket.id))
    make_transient_to_detached(ticket)
    db.session.add(ticket)
    return record_id
