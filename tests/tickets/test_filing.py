"""filing.file_ticket, submission's fast path, writes the rows the ORM's flush would write,
derived from the models' tables: a column added to Ticket (or TicketEvent) needs no second
edit there."""
from __future__ import annotations

import ast
import hashlib
import inspect as pyinspect
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import JSON, Integer, String, func, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, make_transient_to_detached, mapped_column

from tests.factories import make_person, make_registry
from webapp.columns import new_id
from webapp.extensions import db
from webapp.privacy.sealing import unseal
from webapp.notifications.models import OutboxMessage
from webapp.people.actors import Actor
from webapp.tickets import filing, wishes
from webapp.tickets.filing import EVENT_ROWS, TICKET_ROWS, file_ticket
from webapp.tickets.models import IdempotencyRecord, Ticket, TicketEvent, TicketStatus
from webapp.tickets.state_machine import ActionInput, open_ticket

NOW = datetime(2026, 11, 23, 2, 30, 15, 123456, tzinfo=timezone.utc)

# Columns that differ between two tickets by design: their keys, and their human numbers.
# contact_phone is sealed with a random IV (webapp/privacy/sealing.py): compared opened, below.
DIFFERENT = {"id", "number", "contact_phone"}
DIFFERENT_IN_EVENTS = {"id", "ticket_id"}


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _new_ticket(registry, reporter, case: str) -> tuple[Ticket, TicketEvent]:
    """A transient ticket and its first event, as submission.submit_ticket builds them."""
    building = registry.buildings[0]
    grid = registry.grids[0]
    category = registry.categories["wish" if case == "anonymous_wish" else "light"]
    columns = {
        "id": new_id(),
        "number": f"JY-20261123-{new_id()[:4]}",
        "kind": category.kind,
        "category_id": category.id,
        "building_id": building.id,
        "grid_id": grid.id,
        "community_id": registry.community.id,
        "street_id": registry.street.id,
        "description": "楼道灯坏了，晚上很黑",
        "created_at": NOW,
    }
    if case != "minimal":  # as submission sets them; "minimal" leaves them to their defaults
        anonymous = case == "anonymous_wish"
        columns.update(
            unit_id=building.units[0].id,
            **wishes.author_columns(reporter.id, anonymous=anonymous, contact_phone="13900001111", created_at=NOW),
            is_rider_report=False,
            needs_review=anonymous,
            photo_ids=[],
            duplicate_of_id=None,
        )
    ticket = Ticket(**columns)
    if case == "anonymous_wish":
        routed = (None, "community_queue")  # no wish reader: the community's queue
    else:
        routed = (registry.workers[0].id, "grid_worker")
    given = ActionInput(routing=routed, category=category)
    event = open_ticket(ticket, Actor(person_id=reporter.id), given, now=NOW)
    return ticket, event


def _row(table, **where) -> dict:
    (key, value), = where.items()
    rows = db.session.execute(select(table).where(table.c[key] == value)).mappings().all()
    assert len(rows) == 1
    return dict(rows[0])


def _without(row: dict, keys: set) -> dict:
    return {k: v for k, v in row.items() if k not in keys}


class _Statements:
    def __init__(self):
        self.seen = []

    def __call__(self, conn, cursor, statement, *args):
        self.seen.append(statement)

    def __enter__(self):
        sa.event.listen(db.engine, "before_cursor_execute", self)
        return self.seen

    def __exit__(self, *exc):
        sa.event.remove(db.engine, "before_cursor_execute", self)


@pytest.mark.parametrize("case", ["dispatched_report", "anonymous_wish", "minimal"])
def test_fast_path_writes_the_rows_the_orm_writes(registry, case):
    reporter = make_person("居民", "13900001111")
    fast, fast_event = _new_ticket(registry, reporter, case)
    orm, orm_event = _new_ticket(registry, reporter, case)

    key_hash = hashlib.sha256(fast.id.encode()).hexdigest()
    assert file_ticket(fast, fast_event, None, key_hash, "f" * 64) is not None
    orm_event.ticket = orm
    db.session.add_all([orm, orm_event])
    db.session.flush()

    fast_row = _row(Ticket.__table__, id=fast.id)
    orm_row = _row(Ticket.__table__, id=orm.id)
    assert set(fast_row) == set(Ticket.__table__.columns.keys())
    assert _without(fast_row, DIFFERENT) == _without(orm_row, DIFFERENT)
    assert unseal(fast_row["contact_phone"]) == unseal(orm_row["contact_phone"])
    assert fast_row["version"] == 1
    routed = TicketStatus.PENDING if case == "anonymous_wish" else TicketStatus.DISPATCHED
    assert fast_row["status"] == routed
    if case == "minimal":  # the models' defaults, not a copy of them
        shown = (fast_row["level"], fast_row["photo_ids"], fast_row["needs_review"])
        assert shown == ("grid", [], False)

    fast_event_row = _row(TicketEvent.__table__, ticket_id=fast.id)
    orm_event_row = _row(TicketEvent.__table__, ticket_id=orm.id)
    assert _without(fast_event_row, DIFFERENT_IN_EVENTS) == _without(
        orm_event_row, DIFFERENT_IN_EVENTS
    )

    record = _row(IdempotencyRecord.__table__, key_hash=key_hash)
    assert (record["ticket_id"], record["created_at"]) == (fast.id, NOW)


@pytest.mark.parametrize("case", ["dispatched_report", "anonymous_wish", "minimal"])
def test_filed_ticket_carries_every_column_and_nothing_to_flush(registry, case):
    """The API answers from the filed ticket without reading it back: every column value is
    on it, equal to its row, and nothing of it is flushed as a change."""
    reporter = make_person("居民", "13900001111")
    ticket, event = _new_ticket(registry, reporter, case)
    file_ticket(ticket, event, None, hashlib.sha256(ticket.id.encode()).hexdigest(), "f" * 64)

    state = sa.inspect(ticket)
    assert state.persistent and not state.modified
    assert not state.unloaded & set(Ticket.__table__.columns.keys())
    with _Statements() as seen:
        attribute = Ticket.__mapper__.get_property_by_column  # contact_phone: contact_phone_sealed
        shown = {column.key: getattr(ticket, attribute(column).key) for column in Ticket.__table__.columns}
        db.session.flush()
    assert seen == []
    assert shown == _row(Ticket.__table__, id=ticket.id)


def test_a_taken_key_writes_nothing(registry):
    reporter = make_person("居民", "13900001111")
    first, first_event = _new_ticket(registry, reporter, "dispatched_report")
    second, second_event = _new_ticket(registry, reporter, "dispatched_report")
    assert file_ticket(first, first_event, None, "k" * 64, "f" * 64) is not None
    assert file_ticket(second, second_event, None, "k" * 64, "f" * 64) is None
    assert db.session.scalar(select(func.count()).select_from(Ticket.__table__)) == 1
    assert sa.inspect(second).transient


# --- a new column: one edit (the model) -----------------------------------------------------


def test_filing_writes_every_column_of_the_tables():
    tickets, events = Ticket.__table__, TicketEvent.__table__
    assert set(TICKET_ROWS.columns) == set(tickets.columns.keys())
    assert set(EVENT_ROWS.columns) == set(events.columns.keys()) - {events.autoincrement_column.key}
    statement = filing._insert_from_json(
        tickets, TICKET_ROWS.columns, "ticket", "facts, taken", TICKET_ROWS.sql_defaults, filing.ROUTED_TICKET_COLUMNS,
    )
    for key in TICKET_ROWS.columns:
        written = f"r.{key}" in statement or f'r."{key}"' in statement
        assert written or key in filing.ROUTED_TICKET_COLUMNS


def test_filing_names_no_ticket_column():
    """No list of the ticket's columns in filing.py: the only column names it spells are
    those of the rows it writes by name (the key's claim, the event's ticket, the notice) and
    those the submission's statement decides from its facts (ROUTED_TICKET_COLUMNS)."""
    tree = ast.parse(pyinspect.getsource(filing))
    spelled = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    others = set()
    for table in (IdempotencyRecord.__table__, TicketEvent.__table__, OutboxMessage.__table__):
        others |= set(table.columns.keys())
    ticket_only = set(Ticket.__table__.columns.keys()) - others
    assert "me_too_count" in ticket_only
    assert spelled & ticket_only <= set(filing.ROUTED_TICKET_COLUMNS)
    assert "me_too_count" not in filing.ROUTED_TICKET_COLUMNS


def _made():
    return "made"


class _Probe(DeclarativeBase):
    pass


class Probe(_Probe):
    """A table with a column of every kind of default filing knows, as a new column might be."""

    __tablename__ = "filing_probe"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    plain: Mapped[str | None] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(default=7)
    made: Mapped[str] = mapped_column(String(20), default=_made)
    tags: Mapped[list | None] = mapped_column(JSON, default=list)
    extra: Mapped[list | None] = mapped_column(JSON)
    level: Mapped[str] = mapped_column(String(12), server_default="grid")
    lowered: Mapped[str] = mapped_column(String(12), default=func.lower("ABC"))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


@pytest.fixture
def probe_table(app_ctx):
    table = Probe.__table__
    with db.engine.begin() as conn:
        table.create(conn)
    yield table
    db.session.rollback()
    with db.engine.begin() as conn:
        table.drop(conn)


DEFAULTS = {
    "count": 7, "made": "made", "tags": [], "extra": None, "level": "grid", "lowered": "abc",
    "plain": None,
}
GIVEN = {
    "count": 3, "made": "given", "tags": ["a"], "extra": ["b"], "level": "street", "lowered": "x",
    "plain": "y",
}
NONE = dict.fromkeys(DEFAULTS)


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, DEFAULTS),
        (GIVEN, GIVEN),
        # None set on a column with a default is "not set", except for JSON (a JSON null).
        (NONE, {**DEFAULTS, "tags": None}),
    ],
    ids=["unset", "given", "none"],
)
def test_a_new_column_of_any_default_is_written_as_the_orm_writes_it(probe_table, given, expected):
    rows = filing._NewRows(Probe.__mapper__, probe_table)
    assert "id" not in rows.columns and set(rows.sql_defaults) == {"level", "lowered"}
    fast, orm = Probe(name="fast", **given), Probe(name="orm", **given)

    row = rows.row(fast)
    if db.engine.dialect.name == "postgresql":  # as filing's statement writes a row
        statement = filing._insert_from_json(
            probe_table, rows.columns, "row", "(SELECT 1) AS one", rows.sql_defaults
        )
        db.session.execute(text(statement), {"row": filing._as_json(row)})
    else:  # as filing's SQLite branch
        db.session.execute(insert(probe_table), row)
    db.session.add(orm)
    db.session.flush()

    written = {
        r["name"]: _without(dict(r), {"id", "name"})
        for r in db.session.execute(select(probe_table)).mappings()
    }
    assert written["fast"] == written["orm"]
    assert written["fast"] == {**expected, "version": 1}

    # The object carries every value but the database's own defaults, read on first access.
    fast.id = db.session.scalar(select(probe_table.c.id).where(probe_table.c.name == "fast"))
    make_transient_to_detached(fast)
    db.session.add(fast)
    from_database = {"level", "lowered"} - {k for k, v in given.items() if v is not None}
    assert sa.inspect(fast).unloaded == from_database
    assert {k: getattr(fast, k) for k in written["fast"]} == written["fast"]


def test_a_default_that_needs_its_context_is_refused_at_import():
    def per_row(context):
        return context.get_current_parameters()["name"]

    table = sa.Table("filing_refused", sa.MetaData(), sa.Column("id", Integer, primary_key=True),
                     sa.Column("name", String(20), default=per_row))

    class Refused(_Probe):
        __table__ = table

    with pytest.raises(TypeError, match="execution context"):
        filing._NewRows(Refused.__mapper__, table)


def test_postgresql_statement_keeps_its_shape():
    """The submission's one statement: the facts' parameters, the claim's four, one json per
    row (none per column), built at import."""
    from webapp.tickets import submission

    facts = {"code", "category_id", "unit", "since", "person_id", "key_hashes", "is_wish", "department_owned"}
    rows = {"k_key_hash", "k_fingerprint", "k_ticket_id", "k_created_at", "scope_day", "ticket", "event"}
    for with_message, extra in ((True, {"message", "event_actor_id"}), (False, set())):
        statement = submission._ROUTED[with_message].statement
        compiled = statement.compile(dialect=sa.dialects.postgresql.dialect())
        given = {name for name, value in compiled.params.items() if value is None}  # not constants
        assert given == facts | rows | extra
