"""The work queue is answered by one statement and serialized without marshmallow: its body is
byte for byte what the old path gave (the ORM tickets through TicketPresenter.summaries and
TicketPageSchema), page after page, for every kind of scope and filter."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from sqlalchemy import event

from miniprogram_api.schemas.tickets import TicketPageSchema
from tests.factories import make_person, make_registry, session_headers
from webapp.columns import new_id
from webapp.extensions import db
from webapp.pagination import decode_cursor, newest_first, page
from webapp.people.actors import Actor, load_actor
from webapp.people.models import Role, StaffAssignment
from webapp.reads import PreparedStatement
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.presenter import TicketPresenter
from webapp.tickets.queue import queue_page, queue_statement, work_queue_query

# Microseconds, and a creation time shared by several tickets (ties broken by id).
T0 = datetime(2026, 11, 20, 8, 0, 0, 123456, tzinfo=timezone.utc)


class Queue:
    def __init__(self, registry, people: dict):
        self.registry = registry
        self.people = people


@pytest.fixture
def queue(app_ctx):
    """Tickets with and without unit, assignee, deadlines and rating; open, overdue and
    closed; reports of both grids and anonymous wishes; assignees with one, several or no
    staff roles."""
    registry = make_registry(buildings_per_grid=3)
    community = registry.community
    worker_a, worker_b = registry.workers
    wish_reader = make_person("孙悦", "13500003333", code="P-SY")
    street_staff = make_person("钱进", "13500004444", code="P-QJ")
    admin = make_person("周管", "13500005555", code="P-ZG")
    resident = make_person("吴民", "13500006666")  # no staff role: shown as a grid worker
    community_only = make_person("郑社", "13500007777", code="P-ZS")
    db.session.add_all([
        StaffAssignment(person=wish_reader, role=Role.WISH_READER, community=community),
        StaffAssignment(person=street_staff, role=Role.STREET_STAFF, street=registry.street),
        StaffAssignment(person=admin, role=Role.ADMIN),
        StaffAssignment(person=community_only, role=Role.COMMUNITY_STAFF, community=community),
        # Several roles: the narrowest is shown (grid worker; wish reader before community staff).
        StaffAssignment(person=worker_b, role=Role.WISH_READER, community=community),
        StaffAssignment(person=worker_b, role=Role.COMMUNITY_STAFF, community=community),
        StaffAssignment(person=registry.community_staff, role=Role.WISH_READER, community=community),
        StaffAssignment(person=street_staff, role=Role.ADMIN),
    ])
    db.session.flush()
    assignees = [
        worker_a, worker_b, registry.professional, registry.community_staff, street_staff,
        admin, resident, community_only, None,
    ]
    categories = registry.categories
    reports = [categories["light"], categories["fire_lane"], categories["elevator"]]
    statuses = [
        TicketStatus.PENDING, TicketStatus.DISPATCHED, TicketStatus.ACCEPTED,
        TicketStatus.RESOLVED, TicketStatus.CLOSED, TicketStatus.REJECTED,
    ]
    for n in range(60):
        building = registry.buildings[n % len(registry.buildings)]
        wish = n % 7 == 3
        category = categories["wish"] if wish else reports[n % 3]
        status = statuses[(n // 2) % len(statuses)]
        created = T0 - timedelta(minutes=5 * (n // 3), microseconds=n % 2)
        assignee = None if wish else assignees[n % len(assignees)]
        db.session.add(
            Ticket(
                id=new_id(), number=f"JY-20261120-{n:04d}", kind=category.kind, status=status,
                category_id=category.id, building_id=building.id,
                unit_id=building.units[n % 2].id if n % 3 else None,
                grid_id=building.grid_id, community_id=community.id, street_id=registry.street.id,
                description=f"第{n}号：楼道灯坏了，晚上很黑",
                reporter_id=None if wish else resident.id, is_anonymous=wish,
                assignee_id=assignee.id if assignee else None,
                created_at=created, updated_at=created,
                accept_due_at=created + timedelta(hours=2) if n % 4 else None,
                resolve_due_at=created + timedelta(hours=72, seconds=n) if n % 5 else None,
                level=("grid", "community", "street")[n % 3],
                is_overdue=n % 6 == 1,
                me_too_count=n % 4,
                rating=(n % 5) + 1 if status is TicketStatus.CLOSED and n % 2 else None,
                version=1 + n % 3,
            )
        )
    db.session.commit()
    return Queue(registry, {
        "worker_a": worker_a, "worker_b": worker_b, "professional": registry.professional,
        "community_staff": registry.community_staff, "wish_reader": wish_reader,
        "street_staff": street_staff, "admin": admin,
    })


def _old_page(actor, cursor, limit, **filters) -> dict:
    """The page as the queue gave it before: ORM tickets over the whole scope's condition,
    TicketPresenter, TicketPageSchema."""
    query = work_queue_query(actor, **filters)
    query = newest_first(query, Ticket.created_at, Ticket.id, cursor, limit)
    rows, next_cursor = page(list(db.session.scalars(query)), limit, lambda t: (t.created_at, t.id))
    return TicketPageSchema().dump(
        {"items": TicketPresenter(actor).summaries(rows), "next_cursor": next_cursor}
    )


def _walk(app, client, person, limit: int, **filters) -> list[dict]:
    """Every page of the person's queue; each body equals the old path's, byte for byte."""
    headers = session_headers(person)
    actor = load_actor(person.id)
    items, cursor = [], None
    query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in filters.items()}
    for _ in range(100):
        params = {"limit": limit, **query, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/work/tickets?{urlencode(params)}", headers=headers)
        assert response.status_code == 200, response.get_json()
        expected = _old_page(actor, decode_cursor(cursor) if cursor else None, limit, **filters)
        body = response.get_json()
        assert len(body["items"]) == len(expected["items"]), (person.name, filters)
        for got, want in zip(body["items"], expected["items"]):
            assert got == want, (person.name, filters)
        assert body["next_cursor"] == expected["next_cursor"]
        # Byte for byte: same keys in the same order, same numbers and timestamps.
        assert response.get_data() == app.json.response(expected).get_data()
        assert response.mimetype == "application/json"
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the pages never end")


FILTERS = [
    {},
    {"status": "open"},
    {"status": "closed"},
    {"status": "resolved"},
    {"overdue": True},
    {"overdue": False},
    {"category": "elevator"},
    {"category": "wish"},
    {"category": "no_such_category"},
    {"kind": "wish"},
    {"kind": "report", "status": "closed", "category": "light"},
]


@pytest.mark.parametrize("who", [
    "worker_a", "worker_b", "professional", "community_staff", "wish_reader", "street_staff", "admin",
])
def test_every_page_equals_the_old_serialization(app, client, queue, who):
    person = queue.people[who]
    seen = 0
    for filters in FILTERS:
        for limit in (3, 20):
            seen += len(_walk(app, client, person, limit, **filters))
    assert seen  # every scope here holds some tickets


def test_the_fixture_shows_every_case(app, client, queue):
    """The pages compared above hold each case the summary has to render."""
    items = _walk(app, client, queue.people["admin"], 100, status="open")
    items += _walk(app, client, queue.people["admin"], 100, status="closed")
    roles = {item["assignee"]["role"] for item in items if item["assignee"]}
    assert roles == {"网格员", "专业网格员", "心语心愿处理人", "社区工作人员", "街道工作人员", "管理员"}
    # A resident who holds a ticket is shown as a grid worker, as TicketPresenter does.
    assert any(i["assignee"] == {"role": "网格员", "name": "吴民"} for i in items)
    assert any(i["assignee"] == {"role": "网格员", "name": "王强"} for i in items)  # 3 roles
    assert any(i["assignee"] is None for i in items)
    assert {i["unit"] is None for i in items} == {True, False}
    assert {i["due_at"] is None for i in items} == {True, False}
    assert {i["is_overdue"] for i in items} == {True, False}
    assert any(i["rating"] for i in items)
    assert any(i["created_at"].endswith(".123456+08:00") for i in items)
    assert all(i["kind"] == "report" for i in items)  # wishes are for wish readers only
    wishes = _walk(app, client, queue.people["wish_reader"], 20, kind="wish")
    assert wishes and all(i["kind"] == "wish" and i["anonymous"] for i in wishes)
    assert any(i["assignee"] is None and i["unit"] for i in wishes)


def test_a_grid_worker_gets_nothing_of_the_other_grid(app, client, queue):
    registry = queue.registry
    worker = queue.people["worker_a"]
    own_grid = registry.grids[0].name
    for status in ("open", "closed"):
        items = _walk(app, client, worker, 5, status=status)
        assert items
        for item in items:
            assert item["kind"] == "report"
            assert item["building"]["grid"] == own_grid or item["assignee"]["name"] == worker.name
    other = _walk(app, client, registry.workers[1], 100)
    assert {i["building"]["grid"] for i in other} - {own_grid}


def test_a_page_is_one_statement_once_its_names_are_known(app, queue, monkeypatch):
    """Reading a page is a single SQL statement (the category filter included), plus one per
    kind of name the process has not seen within SCAN_CACHE_SECONDS (webapp.tickets.names),
    all on one connection outside the session."""
    monkeypatch.setitem(app.config, "SCAN_CACHE_SECONDS", 60.0)
    actor = load_actor(queue.people["community_staff"].id)
    reads, executed, connections = [], [], set()
    read_rows = PreparedStatement.rows

    def count_reads(self, connection, params):
        reads.append(self.statement)
        connections.add(id(connection))
        return read_rows(self, connection, params)

    def count(conn, cursor, statement, parameters, context, executemany):
        executed.append(statement)

    monkeypatch.setattr(PreparedStatement, "rows", count_reads)
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        first = queue_page(actor, cursor=None, limit=5, category="light", status="open")
        read_first, connections_first = len(reads), len(connections)
        again = queue_page(actor, cursor=None, limit=5, category="light", status="open")
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert first["items"] and first["next_cursor"] and again == first
    assert 1 < read_first <= 1 + 4  # the page; buildings, units, categories, assignees (any)
    assert connections_first == 1
    assert len(reads) - read_first == 1
    # Nothing else ran: through SQLAlchemy on SQLite, on psycopg itself on PostgreSQL.
    assert len(executed) == (0 if db.engine.dialect.name == "postgresql" else len(reads))
    # The console gets datetimes, which its template formats itself.
    assert isinstance(first["items"][0]["created_at"], datetime)


def test_one_statement_serves_every_scope_of_the_same_shape(app_ctx):
    first = Actor(person_id="a" * 22, roles=frozenset({"grid_worker"}), grid_ids=frozenset({1}))
    second = Actor(person_id="b" * 22, roles=frozenset({"grid_worker"}), grid_ids=frozenset({2}))
    wider = Actor(
        person_id="c" * 22, roles=frozenset({"grid_worker", "wish_reader"}),
        grid_ids=frozenset({2}), wish_community_ids=frozenset({1}),
    )
    statement, params = queue_statement(first, cursor=None, limit=20)
    same, other_params = queue_statement(second, cursor=None, limit=20)
    assert same is statement
    assert params != other_params
    assert queue_statement(wider, cursor=None, limit=20)[0] is not statement
    assert queue_statement(first, cursor=None, limit=20, status="closed")[0] is not statement


