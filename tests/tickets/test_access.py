"""Who-sees-what has a Python form and SQL forms (webapp/tickets/access.py): on a generated
population of staff of every role and tickets of every kind and status across two
communities, they agree on every (person, ticket) pair."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, union

from tests.factories import make_person
from webapp.columns import new_id
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import (
    Building,
    Category,
    Community,
    Department,
    Grid,
    Responsibility,
    Street,
    TicketKind,
)
from webapp.tickets import access
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.queue import queue_page

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def population(app_ctx):
    """Two streets, two communities (A in street 1, B in street 2), two grids each; staff of
    every role, some with several roles or a matrix stand-in; a report and a wish of every
    status in every grid and category, held by someone inside or outside the scope, or nobody."""
    streets = [Street(code=f"S{i}", name=f"街道{i}", ticket_prefix=f"S{i}") for i in (1, 2)]
    communities = [
        Community(code="A", name="甲社区", street=streets[0]),
        Community(code="B", name="乙社区", street=streets[1]),
    ]
    housing = Department(code="ZJ", name="住建局")
    db.session.add_all([*streets, *communities, housing])
    categories = [
        Category(code="light", name="楼道照明", kind=TicketKind.REPORT),
        Category(code="elevator", name="电梯故障", kind=TicketKind.REPORT, department=housing),
        Category(code="wish", name="心语心愿", kind=TicketKind.WISH),
    ]
    db.session.add_all(categories)
    people = {
        name: make_person(name, f"139{index:08d}", code=f"P{index:03d}")
        for index, name in enumerate([
            "grid_a1", "grid_b1", "professional", "standin", "community_a", "community_b",
            "wish_a", "wish_b", "street_1", "admin", "grid_and_wish_a", "resident",
        ])
    }
    grids = []
    for community in communities:
        for number in (1, 2):
            grid = Grid(code=f"{community.code}{number}", name=f"{community.name}{number}网格", community=community)
            grids.append(grid)
    db.session.add_all(grids)
    db.session.flush()
    a1, a2, b1, b2 = grids
    a1.worker_id, b1.worker_id = people["grid_a1"].id, people["grid_b1"].id
    assignments = [
        ("grid_a1", Role.GRID_WORKER, {"grid": a1}),
        ("grid_b1", Role.GRID_WORKER, {"grid": b1}),
        ("grid_and_wish_a", Role.GRID_WORKER, {"grid": a2}),
        ("grid_and_wish_a", Role.WISH_READER, {"community": communities[0]}),
        ("professional", Role.PROFESSIONAL, {"department": housing}),
        ("standin", Role.PROFESSIONAL, {"department": housing}),
        ("community_a", Role.COMMUNITY_STAFF, {"community": communities[0]}),
        ("community_b", Role.COMMUNITY_STAFF, {"community": communities[1]}),
        ("wish_a", Role.WISH_READER, {"community": communities[0]}),
        ("wish_b", Role.WISH_READER, {"community": communities[1]}),
        ("street_1", Role.STREET_STAFF, {"street": streets[0]}),
        ("admin", Role.ADMIN, {}),
    ]
    db.session.add_all(
        StaffAssignment(person=people[name], role=role, **scope) for name, role, scope in assignments
    )
    # The professional answers for elevators in a1 and b1 (one worker, many grids); the
    # stand-in covers a1 only.
    db.session.add_all([
        Responsibility(grid_id=a1.id, category_id=categories[1].id, person_id=people["professional"].id,
                       standin_id=people["standin"].id),
        Responsibility(grid_id=b1.id, category_id=categories[1].id, person_id=people["professional"].id),
    ])
    buildings = [Building(code=f"{g.code}-1", name=f"{g.name}1号楼", address="路1号", grid=g) for g in grids]
    db.session.add_all(buildings)
    db.session.flush()
    holders = [None, people["grid_a1"], people["grid_b1"], people["community_b"], people["resident"]]
    n = 0
    for building, category, status, holder in itertools.product(
        buildings, categories, list(TicketStatus), holders
    ):
        grid = building.grid
        created = T0 - timedelta(minutes=n)
        db.session.add(Ticket(
            id=new_id(), number=f"S-{n:05d}", kind=category.kind, status=status,
            category_id=category.id, building_id=building.id, grid_id=grid.id,
            community_id=grid.community_id, street_id=grid.community.street_id,
            description="楼道灯坏了", reporter_id=people["resident"].id,
            assignee_id=holder.id if holder else None, created_at=created, updated_at=created,
        ))
        n += 1
    db.session.commit()
    return people


def _sql_whole(actor) -> set[str]:
    return set(db.session.scalars(select(Ticket.id).where(access.staff_scope_clause(actor))))


def _sql_parts(actor) -> set[str]:
    parts = [
        select(Ticket.id).where(access.scope_part_condition(kind, value))
        for kind, value in access.scope_part_values(actor)
    ]
    if not parts:
        return set()
    return set(db.session.scalars(union(*parts)))


def test_access_python_and_sql_forms_agree_on_every_pair(population):
    tickets = db.session.scalars(select(Ticket)).all()
    assert len(tickets) == 4 * 3 * len(TicketStatus) * 5
    checked = 0
    for name, person in population.items():
        actor = load_actor(person.id)
        python = {t.id for t in tickets if access.in_staff_scope(actor, t)}
        assert _sql_whole(actor) == python, name
        assert _sql_parts(actor) == python, name
        checked += len(tickets)
    assert checked == len(population) * len(tickets)


def test_access_queue_pages_show_exactly_the_python_scope_per_status(population):
    """The queue's own statements (per-part, with the status filter and the partial indexes'
    literal conditions) list what the Python check allows, status by status."""
    tickets = db.session.scalars(select(Ticket)).all()
    for name, person in population.items():
        actor = load_actor(person.id)
        if not actor.is_staff:
            continue
        for status in [*TicketStatus, "open"]:
            wanted = {
                t.id for t in tickets if access.in_staff_scope(actor, t)
                and (t.status.value == status if status != "open"
                     else t.status in (TicketStatus.PENDING, TicketStatus.DISPATCHED,
                                       TicketStatus.ACCEPTED, TicketStatus.RESOLVED))
            }
            value = status if isinstance(status, str) else status.value
            listed = queue_page(actor, cursor=None, limit=1000, status=value)
            assert {item["id"] for item in listed["items"]} == wanted, (name, value)


def test_access_the_population_exercises_every_rule(population):
    """The agreement above means something: each kind of staff sees some and not all."""
    tickets = db.session.scalars(select(Ticket)).all()
    seen = {
        name: sum(access.in_staff_scope(load_actor(p.id), t) for t in tickets)
        for name, p in population.items()
    }
    assert seen["resident"] == 0
    assert seen["admin"] == sum(t.kind is TicketKind.REPORT for t in tickets)  # wishes: readers only
    for name in ("grid_a1", "professional", "standin", "community_a", "wish_a", "street_1", "grid_and_wish_a"):
        assert 0 < seen[name] < len(tickets), name
    wish_a = load_actor(population["wish_a"].id)
    community_a = db.session.scalar(select(Community.id).where(Community.code == "A"))
    assert all(t.kind is TicketKind.WISH and t.community_id == community_a
               for t in tickets if access.in_staff_scope(wish_a, t))
