"""The escalation ladder (webapp/tickets/ladder.py): a wish climbs only to its community's wish
readers, by hand or when overdue; street staff are never handed a wish's content."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.factories import make_person, make_registry
from webapp.columns import new_id
from webapp.errors import InvalidTransition
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.people.actors import load_actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import TicketKind
from webapp.tickets import ladder
from webapp.tickets.access import in_staff_scope
from webapp.tickets.deadline_sweep import run_deadlines
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.state_machine import Action, ActionInput, transition

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def place(app_ctx):
    registry = make_registry()
    readers = [make_person("孙悦", "13500003333"), make_person("钱多", "13500003334")]
    street_staff = make_person("钱进", "13500004444")
    db.session.add_all([
        *(StaffAssignment(person=r, role=Role.WISH_READER, community=registry.community) for r in readers),
        StaffAssignment(person=street_staff, role=Role.STREET_STAFF, street=registry.street),
    ])
    db.session.commit()
    return registry, readers, street_staff


def _ticket(registry, kind: TicketKind, assignee, *, due: datetime, level: str = "grid") -> Ticket:
    category = registry.categories["wish" if kind is TicketKind.WISH else "light"]
    building = registry.buildings[0]
    ticket = Ticket(
        id=new_id(), number=f"JY-{new_id()[:8]}", kind=kind, status=TicketStatus.DISPATCHED,
        category_id=category.id, building_id=building.id, grid_id=building.grid_id,
        community_id=registry.community.id, street_id=registry.street.id,
        description="想和社区说说心里话", assignee_id=assignee.id, level=level,
        created_at=due - timedelta(hours=2), updated_at=due - timedelta(hours=2),
        dispatched_at=due - timedelta(hours=2), accept_due_at=due, resolve_due_at=due + timedelta(days=3),
    )
    db.session.add(ticket)
    db.session.commit()
    return ticket


def _told(ticket: Ticket, kind: str) -> set[str]:
    return set(db.session.scalars(
        select(OutboxMessage.person_id).where(OutboxMessage.ticket_id == ticket.id, OutboxMessage.kind == kind)
    ))


def test_ladder_a_wish_escalated_by_hand_reaches_its_community_readers_and_stops(place):
    registry, (reader, other_reader), street_staff = place
    wish = _ticket(registry, TicketKind.WISH, reader, due=T0 + timedelta(hours=5))
    transition(wish, Action.ESCALATE, load_actor(reader.id), ActionInput(), now=T0)
    db.session.commit()
    assert wish.level == "community"
    assert _told(wish, "ticket_escalated") == {other_reader.id}  # never the community or street staff
    with pytest.raises(InvalidTransition) as refused:
        transition(wish, Action.ESCALATE, load_actor(reader.id), ActionInput(), now=T0)
    assert refused.value.code == "wish_stays_in_community"


def test_ladder_an_overdue_wish_climbs_to_the_community_only(place):
    registry, readers, street_staff = place
    wish = _ticket(registry, TicketKind.WISH, readers[0], due=T0 - timedelta(days=3))
    report = _ticket(registry, TicketKind.REPORT, registry.workers[0], due=T0 - timedelta(days=3))
    first = run_deadlines(T0)
    assert (wish.level, report.level) == ("community", "street")
    assert first.skipped == 0
    # Who was handed the wish could open it; street staff were handed the report only.
    told = _told(wish, "ticket_escalated")
    assert told == {r.id for r in readers}  # the community's wish readers, the holder among them
    assert all(in_staff_scope(load_actor(person), wish) for person in told)
    assert street_staff.id in _told(report, "ticket_escalated")
    assert street_staff.id not in {m.person_id for m in db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.ticket_id == wish.id))}
    # Later runs leave it with its community, and do not count it as skipped work.
    later = run_deadlines(T0 + timedelta(days=5))
    db.session.refresh(wish)
    assert wish.level == "community" and later.skipped == 0 and later.changed == 0


def test_ladder_top_level_and_its_sql_form_agree(place):
    registry, readers, _ = place
    tickets = [
        _ticket(registry, kind, readers[0] if kind is TicketKind.WISH else registry.workers[0],
                due=T0, level=level)
        for kind in TicketKind for level in ladder.LADDER
    ]
    for level in ladder.LADDER:
        sql = set(db.session.scalars(select(Ticket.id).where(ladder.may_reach_clause(level))))
        python = {t.id for t in tickets if ladder.rung(level) <= ladder.rung(ladder.top_level(t))}
        assert sql == python, level
