"""Rider points, where the rule lives (webapp/people/riders.py): a rider's report accepted by
staff earns POINTS_PER_ACCEPTED_REPORT once; nothing for a resident's report, nothing twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import make_person, make_registry
from webapp.columns import new_id
from webapp.extensions import db
from webapp.people import riders
from webapp.people.actors import load_actor
from webapp.people.models import Rider, RiderStatus
from webapp.registry.models import TicketKind
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.state_machine import Action, ActionInput, transition

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(app_ctx):
    registry = make_registry()
    rider = make_person("骑手小李", "13900009999")
    db.session.add(Rider(person_id=rider.id, community_id=registry.community.id, name="小李",
                         platform="美团", status=RiderStatus.ACTIVE))
    db.session.commit()
    return registry, rider


def _report(registry, reporter, *, by_rider: bool) -> Ticket:
    building = registry.buildings[0]
    ticket = Ticket(
        id=new_id(), number=f"JY-{new_id()[:8]}", kind=TicketKind.REPORT, status=TicketStatus.DISPATCHED,
        category_id=registry.categories["light"].id, building_id=building.id, grid_id=building.grid_id,
        community_id=registry.community.id, street_id=registry.street.id, description="电动车在楼道充电",
        reporter_id=reporter.id, is_rider_report=by_rider, assignee_id=registry.workers[0].id,
        created_at=T0, updated_at=T0, dispatched_at=T0, accept_due_at=T0 + timedelta(hours=2),
        resolve_due_at=T0 + timedelta(days=3),
    )
    db.session.add(ticket)
    db.session.flush()
    return ticket


def _points(person) -> int:
    return db.session.scalar(db.select(Rider.points).where(Rider.person_id == person.id))


def test_rider_points_an_accepted_rider_report_earns_them_once(world):
    registry, rider = world
    ticket = _report(registry, rider, by_rider=True)
    worker = load_actor(registry.workers[0].id)
    transition(ticket, Action.ACCEPT, worker, now=T0)
    assert _points(rider) == riders.POINTS_PER_ACCEPTED_REPORT
    # Handed back and accepted again: the same report earns nothing more.
    transition(ticket, Action.RETURN, worker, ActionInput(reason="wrong_grid"), now=T0)
    transition(ticket, Action.DISPATCH, load_actor(registry.community_staff.id),
               ActionInput(target=registry.workers[0].id), now=T0)
    transition(ticket, Action.ACCEPT, worker, now=T0)
    assert _points(rider) == riders.POINTS_PER_ACCEPTED_REPORT
    assert riders.credit_accepted_report(ticket) is None


def test_rider_points_a_report_sent_as_a_resident_earns_nothing(world):
    registry, rider = world
    ticket = _report(registry, rider, by_rider=False)  # sent before enrolling, say
    assert riders.credit_accepted_report(ticket) is None
    transition(ticket, Action.ACCEPT, load_actor(registry.workers[0].id), now=T0)
    assert _points(rider) == 0
