"""The work queue read part by part (one ordered index scan per part of the scope) lists,
page after page, exactly the tickets of the scope's single condition, newest first."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.factories import make_person, make_registry, session_headers
from webapp.columns import new_id
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import TicketKind
from webapp.tickets import access
from webapp.tickets.models import OPEN_STATUSES, Ticket, TicketStatus

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def registry(app_ctx):
    return make_registry(buildings_per_grid=3)


def _tickets(registry, count=90):
    """Tickets over both grids, every category, open and closed, some assigned across grids,
    many sharing a creation time (ties are broken by id)."""
    rng = random.Random(7)
    people = [*registry.workers, registry.professional, registry.community_staff, None]
    categories = list(registry.categories.values())
    for n in range(count):
        building = rng.choice(registry.buildings)
        category = rng.choice(categories)
        created = T0 - timedelta(minutes=rng.choice([0, 0, 5, 10, 15, 20, 30, 45, 60]) + n // 10)
        db.session.add(
            Ticket(
                id=new_id(), number=f"JY-T-{n:04d}", kind=category.kind,
                status=rng.choice([*OPEN_STATUSES, TicketStatus.CLOSED, TicketStatus.REJECTED]),
                category_id=category.id, building_id=building.id, grid_id=building.grid_id,
                community_id=registry.community.id, street_id=registry.street.id,
                description="楼道灯坏了，请尽快修理", assignee_id=(p.id if (p := rng.choice(people)) else None),
                is_anonymous=category.kind is TicketKind.WISH, created_at=created, updated_at=created,
            )
        )
    db.session.commit()


def _walk(client, headers, limit, query=""):
    ids, cursor = [], None
    for _ in range(100):
        url = f"/api/v1/work/tickets?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["items"]) <= limit
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the pages never end")


def _expected(person, *conditions):
    actor = load_actor(person.id)
    return list(
        db.session.scalars(
            select(Ticket.id)
            .where(access.staff_scope_clause(actor), *conditions)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        )
    )


def test_pages_of_every_kind_of_scope_match_the_scope(client, registry):
    _tickets(registry)
    wish_reader = make_person("孙悦", "13500003333", code="P-SY")
    db.session.add(StaffAssignment(person=wish_reader, role=Role.WISH_READER, community=registry.community))
    street_staff = make_person("钱进", "13500004444", code="P-QJ")
    db.session.add(StaffAssignment(person=street_staff, role=Role.STREET_STAFF, street=registry.street))
    # A grid worker who is also a wish reader: reports of the grid and wishes of the community.
    db.session.add(
        StaffAssignment(person=registry.workers[1], role=Role.WISH_READER, community=registry.community)
    )
    db.session.commit()
    people = [*registry.workers, registry.professional, registry.community_staff, wish_reader, street_staff]
    open_only = Ticket.status.in_(OPEN_STATUSES)
    for person in people:
        headers = session_headers(person)
        expected = _expected(person, open_only)
        assert expected, person.name  # every scope here holds some open tickets
        for limit in (1, 3, 20):
            assert _walk(client, headers, limit) == expected, (person.name, limit)
        closed = _expected(person, Ticket.status == TicketStatus.CLOSED)
        assert _walk(client, headers, 4, "&status=closed") == closed, person.name
