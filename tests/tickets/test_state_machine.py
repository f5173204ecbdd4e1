"""The transition table is the whole truth: every row of TRANSITIONS, and every target of each
row (the conditional ones included), is reached through state_machine.transition under the
condition the table states; nothing else is reachable. Domain level: no HTTP."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import make_person, make_registry
from webapp.columns import new_id
from webapp.errors import InvalidTransition
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.people.models import Person
from webapp.registry.models import TicketKind
from webapp.tickets import state_machine
from webapp.tickets.models import Photo, Ticket, TicketStatus
from webapp.tickets.state_machine import (
    MAX_RETURNS_TO_QUEUE,
    TRANSITIONS,
    Action,
    ActionInput,
    open_ticket,
    transition,
)

S = TicketStatus
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


@dataclass
class World:
    registry: object
    resident: Person
    counter: int = 0

    def ticket(self, status: TicketStatus | None, *, assignee: Person | None = None, **columns) -> Ticket:
        """A report of the first grid's first building, in `status`, held by `assignee`."""
        self.counter += 1
        registry = self.registry
        building = registry.buildings[0]
        values = dict(
            id=new_id(), number=f"JY-20261123-{self.counter:04d}", kind=TicketKind.REPORT,
            status=status, category_id=registry.categories["light"].id, building_id=building.id,
            grid_id=building.grid_id, community_id=registry.community.id,
            street_id=registry.street.id, description="楼道灯坏了，晚上很黑",
            reporter_id=self.resident.id, assignee_id=assignee.id if assignee else None,
            created_at=T0, updated_at=T0, dispatched_at=T0 if assignee else None,
            accept_due_at=T0 + timedelta(hours=2), resolve_due_at=T0 + timedelta(hours=72),
            resolved_at=T0 + timedelta(hours=1) if status is S.RESOLVED else None,
        )
        values.update(columns)
        ticket = Ticket(**values)
        if status is not None:
            db.session.add(ticket)
            db.session.flush()
        return ticket

    def photo_of(self, person: Person) -> str:
        photo = Photo(sha256=uuid.uuid4().hex * 2, content_type="image/jpeg", width=1, height=1,
                      byte_size=1, uploader_id=person.id)
        db.session.add(photo)
        db.session.flush()
        return photo.id


@pytest.fixture
def world(app_ctx) -> World:
    return World(registry=make_registry(), resident=make_person("吴民", "13500006666"))


def _run(world: World, before, action: Action, target: TicketStatus) -> Ticket:
    """Put a ticket in `before` under the condition that leads to `target`, apply `action`."""
    registry = world.registry
    worker, other_worker = registry.workers
    head = registry.community_staff
    supervisor = load_actor(head.id)
    holder = load_actor(worker.id)
    conditional = target is not TRANSITIONS[(before, action)].to
    if action is Action.SUBMIT:
        ticket = world.ticket(None)
        routing = (None, "community_queue") if conditional else (worker.id, "grid_worker")
        given = ActionInput(routing=routing, category=registry.categories["light"])
        event = open_ticket(ticket, load_actor(world.resident.id), given, now=T0)
        assert event.to_status == target.value
        return ticket
    assignee = None if before is S.PENDING or (action is Action.REOPEN and conditional) else worker
    ticket = world.ticket(before, assignee=assignee)
    actor, given = supervisor, ActionInput()
    if action is Action.DISPATCH or action is Action.REASSIGN:
        given = ActionInput(target=other_worker.id)
    elif action is Action.ACCEPT:
        actor = holder
    elif action is Action.RESOLVE:
        actor, given = holder, ActionInput(note="已修好", photo_ids=[world.photo_of(worker)])
    elif action is Action.RETURN:
        actor, given = holder, ActionInput(reason="wrong_grid")
        if conditional:  # the third return goes to the community head
            ticket.return_count = MAX_RETURNS_TO_QUEUE
    elif action is Action.REJECT:
        given = ActionInput(reason="invalid")
    elif action is Action.MERGE:
        into = world.ticket(S.DISPATCHED, assignee=worker)
        given = ActionInput(reason="duplicate", target=into.id)
    elif action in (Action.CONFIRM, Action.REOPEN):
        actor, given = load_actor(world.resident.id), ActionInput(rating=5 if action is Action.CONFIRM else 2)
    elif action is Action.AUTO_CLOSE:
        actor = None
    transition(ticket, action, actor, given, now=T0 + timedelta(hours=3))
    if action is Action.RETURN and conditional:
        assert ticket.assignee_id == head.id and ticket.level == "community"
    if action is Action.UNASSIGN:  # the holder left (tickets.handover): nobody holds it now
        assert ticket.assignee_id is None and ticket.accepted_at is None
    return ticket


ROWS = [
    pytest.param(before, action, target, id=f"{before.value if before else 'new'}-{action.value}-{target.value}")
    for (before, action), move in TRANSITIONS.items()
    for target in move.targets
]


@pytest.mark.parametrize("before,action,target", ROWS)
def test_state_machine_every_row_and_target_of_the_table(world, before, action, target):
    ticket = _run(world, before, action, target)
    assert ticket.status is target


def test_state_machine_rows_with_a_condition_say_what_it_is():
    conditional = {key: move for key, move in TRANSITIONS.items() if move.otherwise is not None}
    assert set(conditional) == {
        (None, Action.SUBMIT), (S.DISPATCHED, Action.RETURN), (S.ACCEPTED, Action.RETURN),
        (S.RESOLVED, Action.REOPEN),
    }
    assert all(move.when for move in conditional.values())


ILLEGAL = [
    pytest.param(status, action, id=f"{status.value}-{action.value}")
    for status in S
    for action in Action
    if action is not Action.SUBMIT and (status, action) not in TRANSITIONS
]


@pytest.mark.parametrize("status,action", ILLEGAL)
def test_state_machine_refuses_every_pair_the_table_does_not_list(world, status, action):
    worker = world.registry.workers[0]
    ticket = world.ticket(status, assignee=worker)
    actor = None if action in (Action.AUTO_CLOSE, Action.ESCALATE) else (
        load_actor(world.resident.id) if action in (Action.CONFIRM, Action.REOPEN)
        else load_actor(world.registry.community_staff.id)
    )
    with pytest.raises(InvalidTransition):
        transition(ticket, action, actor, ActionInput(), now=T0)
    assert ticket.status is status


def test_state_machine_an_effect_cannot_reach_a_status_the_table_does_not_state(world, monkeypatch):
    ticket = world.ticket(S.DISPATCHED, assignee=world.registry.workers[0])
    monkeypatch.setitem(state_machine.EFFECTS, Action.ACCEPT, lambda *args: S.CLOSED)
    with pytest.raises(RuntimeError):
        transition(ticket, Action.ACCEPT, load_actor(world.registry.workers[0].id), now=T0)
