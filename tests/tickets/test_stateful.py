"""A hypothesis state machine of tickets' lives through the HTTP API, as the mini-program sends
them: residents submit (and retry with the same Idempotency-Key), staff act (accept, resolve,
return, reassign, dispatch, escalate, reject, merge; sometimes with a stale version, or without
the reason, photo or target an action needs), the reporter confirms or reopens.

A model predicts every answer. Invariants, checked after every step:
- no lost ticket: every acknowledged submission exists exactly once (the reporter's list holds
  exactly the model's tickets), and a retry makes no second ticket;
- only legal transitions: each status change equals what state_machine.TRANSITIONS allows for
  (status, action), and an action refused (403, 404, 409, 422) changes nothing at all;
- the event log replays: walking a ticket's events from the first gives its current status and
  its counters (returns, reopens, merges into it).

Deterministic and bounded: derandomized, MACHINES runs of at most STEPS steps, no example
database. The registry (tests.factories.make_registry) is built once per test; each run signs a
new resident in and follows only that resident's tickets.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from tests.factories import auth_headers, make_registry, upload_photo
from webapp.extensions import db
from webapp.tickets.models import Ticket, TicketEvent, TicketStatus
from webapp.tickets.state_machine import MAX_RETURNS_TO_QUEUE, TRANSITIONS, Action

MACHINES = 14
STEPS = 35
MAX_TICKETS = 5

LADDER = ("grid", "community", "street")  # the categories used here have no department
OPEN = ("pending", "dispatched", "accepted", "resolved")
# What the mini-program sends with each action when the user fills the form in.
REASONS = {"return": "wrong_grid", "reject": "invalid", "merge": "duplicate", "escalate": "needs_coordination"}


@dataclass
class Expected:
    """What the model knows of one acknowledged ticket."""

    id: str
    key: str
    body: dict
    building: int  # index in the registry's buildings
    grid: int  # index in the registry's grids
    status: str = "dispatched"
    assignee: str | None = None  # a name, as the API shows it
    level: str = "grid"
    returns: int = 0
    reopens: int = 0
    me_too: int = 0
    rating: int | None = None
    events: int = 1
    actions: list[str] = field(default_factory=lambda: ["submit"])


class World:
    """The registry, the staff who act, and the ways to call the API."""

    def __init__(self, client):
        self.client = client
        self.registry = make_registry()
        workers = self.registry.workers
        self.names = {"worker": workers[0].name, "worker_2": workers[1].name,
                      "community": self.registry.community_staff.name}
        self.targets = {workers[0].name: workers[0].id, workers[1].name: workers[1].id}
        self.staff = {
            "worker": auth_headers(client, workers[0]),
            "community": auth_headers(client, self.registry.community_staff),
        }
        self.codes = [self.registry.codes[b.id] for b in self.registry.buildings]
        self.grid_of_building = [
            [g.id for g in self.registry.grids].index(b.grid_id) for b in self.registry.buildings
        ]
        # (action, HTTP status) of every action tried, over all runs: what the runs covered.
        self.tally: Counter[tuple[str, int]] = Counter()


class TicketLives(RuleBasedStateMachine):
    tickets = Bundle("tickets")

    def __init__(self, world: World):
        super().__init__()
        self.world = world
        self.client = world.client
        self.model: dict[str, Expected] = {}

    @initialize()
    def sign_in_a_resident(self):
        self.resident = auth_headers(self.client, openid=f"stateful-{uuid.uuid4().hex}")

    # --- the resident: submit, retry ------------------------------------------------------

    @precondition(lambda self: len(self.model) < MAX_TICKETS)  # a few tickets, long lives
    # The first building of each grid: same-building duplicates to merge, another grid's tickets.
    @rule(target=tickets, building=st.sampled_from([0, 2]), category=st.sampled_from(["light", "fire_lane"]))
    def submit(self, building, category):
        key = str(uuid.uuid4())
        body = {"code": self.world.codes[building], "kind": "report", "category": category,
                "description": f"楼道里的问题，第{len(self.model) + 1}次反映"}
        response = self._submit(key, body)
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        assert created["id"] not in self.model
        grid = self.world.grid_of_building[building]
        expected = Expected(id=created["id"], key=key, body=body, building=building, grid=grid,
                            assignee=self.world.names["worker" if grid == 0 else "worker_2"])
        self.model[expected.id] = expected
        assert created["status"] == "dispatched"
        assert created["assignee"]["name"] == expected.assignee
        return expected.id

    @rule(ticket=tickets)
    def retry_the_same_submission(self, ticket):
        """A retry (lost answer, a second tap): the same ticket again, never a second one."""
        expected = self.model[ticket]
        response = self._submit(expected.key, expected.body)
        assert response.status_code in (200, 201), response.get_json()
        assert response.get_json()["id"] == ticket

    @rule(ticket=tickets)
    def reuse_a_key_for_another_body(self, ticket):
        expected = self.model[ticket]
        other = {**expected.body, "description": expected.body["description"] + "（补充）"}
        response = self._submit(expected.key, other)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["code"] == "idempotency_key_reused"

    # --- staff actions ----------------------------------------------------------------------

    # One rule per action (not one rule drawing the action): each is tried about as often.
    @rule(ticket=tickets, who=st.sampled_from(["worker", "community"]))
    def accept(self, ticket, who):
        self._act(ticket, "accept", who, self._body("accept", who))

    @rule(ticket=tickets, who=st.sampled_from(["worker", "community"]))
    def resolve(self, ticket, who):
        self._act(ticket, "resolve", who, self._body("resolve", who))

    @rule(ticket=tickets, who=st.sampled_from(["worker", "community"]))
    def give_back(self, ticket, who):
        self._act(ticket, "return", who, self._body("return", who))

    @rule(ticket=tickets, who=st.sampled_from(["community", "worker"]))
    def reject(self, ticket, who):
        self._act(ticket, "reject", who, self._body("reject", who))

    @rule(ticket=tickets, who=st.sampled_from(["community", "worker"]))
    def escalate(self, ticket, who):
        self._act(ticket, "escalate", who, self._body("escalate", who))

    @rule(ticket=tickets, moves=st.integers(1, 3), rating=st.integers(1, 5), fixed=st.booleans())
    def move_it_forward(self, ticket, moves, rating, fixed):
        """What the holder or the reporter would do next, a few times: the path most tickets
        take (pending → dispatched → accepted → resolved → closed or reopened)."""
        for _ in range(moves):
            status = self.model[ticket].status
            if status == "pending":
                self.hand_on(ticket, "dispatch", "worker", "community")
            elif status in ("dispatched", "accepted"):
                action = "accept" if status == "dispatched" else "resolve"
                who = "community" if self.model[ticket].grid else "worker"
                self._act(ticket, action, who, self._body(action, who))
            elif status == "resolved":
                self.feedback(ticket, fixed, rating)

    @rule(ticket=tickets, action=st.sampled_from(["reassign", "dispatch"]),
          to=st.sampled_from(["worker_2", "worker"]), who=st.sampled_from(["community", "worker"]))
    def hand_on(self, ticket, action, to, who):
        name = self.world.names[to]
        self._act(ticket, action, who, {"target": self.world.targets[name]}, target_name=name)

    @rule(ticket=tickets, into=tickets, a_duplicate=st.booleans())
    def merge(self, ticket, into, a_duplicate):
        """Into any ticket, or (as staff would pick) an open one of the same building."""
        mine = self.model[ticket]
        duplicates = [t.id for t in self.model.values()
                      if t.id != ticket and t.building == mine.building and t.status in OPEN]
        if duplicates and not a_duplicate:
            into = duplicates[0]
        self._act(ticket, "merge", "community", {"reason": "duplicate", "target": into}, merge_into=into)

    @rule(ticket=tickets, action=st.sampled_from(["resolve", "return", "reject", "merge", "reassign"]))
    def act_without_what_it_needs(self, ticket, action):
        """The form left empty: a legal action answers 422, an illegal one 409; nothing changes."""
        expected = self.model[ticket]
        before = self._snapshot(ticket)
        response = self.client.post(f"/api/v1/tickets/{ticket}/actions", json={"action": action},
                                    headers=self.world.staff["community"])
        if (TicketStatus(expected.status), Action(action)) in TRANSITIONS:
            assert response.status_code == 422, response.get_json()
        else:
            assert response.status_code == 409, response.get_json()
            assert response.get_json()["code"] == "invalid_transition"
        assert self._snapshot(ticket) == before

    @rule(ticket=tickets)
    def act_on_a_stale_version(self, ticket):
        """Acting on what the page showed before someone else's change: 409, nothing changes."""
        before = self._snapshot(ticket)
        response = self.client.post(
            f"/api/v1/tickets/{ticket}/actions",
            json={"action": "accept", "version": before["version"] - 1},
            headers=self.world.staff["community"],
        )
        assert response.status_code == 409, response.get_json()
        assert response.get_json()["code"] == "stale_version"
        assert self._snapshot(ticket) == before

    @rule(ticket=tickets)
    def a_resident_tries_a_staff_action(self, ticket):
        before = self._snapshot(ticket)
        response = self.client.post(f"/api/v1/tickets/{ticket}/actions", json={"action": "accept"},
                                    headers=self.resident)
        assert response.status_code == 403, response.get_json()
        assert self._snapshot(ticket) == before

    # --- the reporter's feedback --------------------------------------------------------------

    @rule(ticket=tickets, resolved=st.booleans(), rating=st.integers(1, 5))
    def feedback(self, ticket, resolved, rating):
        expected = self.model[ticket]
        before = self._snapshot(ticket)
        response = self.client.post(f"/api/v1/tickets/{ticket}/feedback",
                                    json={"resolved": resolved, "rating": rating}, headers=self.resident)
        action = self._last_action = "confirm" if resolved else "reopen"
        if expected.status != "resolved":
            self._assert_refused(response, 409, before, ticket, "invalid_transition")
            return
        assert response.status_code == 200, response.get_json()
        after = "closed" if resolved else "dispatched"  # the handler is still on duty
        expected.rating = rating
        if not resolved:
            expected.reopens += 1
        self._moved(expected, action, after, response.get_json())

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def no_ticket_is_lost_or_doubled(self):
        if not hasattr(self, "resident"):
            return
        listed = self._my_ticket_ids()
        assert len(listed) == len(set(listed))
        assert set(listed) == set(self.model)

    @invariant()
    def every_event_log_replays_to_its_ticket(self):
        if not self.model:
            return
        db.session.remove()  # read what the requests committed
        tickets = {t.id: t for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(self.model)))}
        assert set(tickets) == set(self.model)
        events: dict[str, list[TicketEvent]] = {ticket_id: [] for ticket_id in self.model}
        query = (select(TicketEvent).where(TicketEvent.ticket_id.in_(self.model))
                 .order_by(TicketEvent.ticket_id, TicketEvent.id))
        for event in db.session.scalars(query):
            events[event.ticket_id].append(event)
        merged_into = {ticket_id: 0 for ticket_id in self.model}
        for ticket in tickets.values():
            if ticket.merged_into_id in merged_into:
                merged_into[ticket.merged_into_id] += 1
        for ticket_id, ticket in tickets.items():
            status, counters = _replay(events[ticket_id])
            assert status == ticket.status.value, ticket_id
            assert counters["return"] == ticket.return_count
            assert counters["reopen"] == ticket.reopen_count
            assert merged_into[ticket_id] == ticket.me_too_count  # no me-too in these runs
            expected = self.model[ticket_id]
            assert [e.action for e in events[ticket_id]] == expected.actions
            assert (ticket.status.value, ticket.return_count, ticket.reopen_count, ticket.me_too_count) == (
                expected.status, expected.returns, expected.reopens, expected.me_too)
        db.session.remove()

    # --- helpers ------------------------------------------------------------------------------

    def _submit(self, key, body):
        return self.client.post("/api/v1/tickets", json=body,
                                headers={**self.resident, "Idempotency-Key": key})

    def _my_ticket_ids(self) -> list[str]:
        ids, cursor = [], None
        while True:
            query = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = self.client.get("/api/v1/tickets/mine", query_string=query, headers=self.resident)
            assert page.status_code == 200, page.get_json()
            ids += [item["id"] for item in page.get_json()["items"]]
            cursor = page.get_json()["next_cursor"]
            if not cursor:
                return ids

    def _body(self, action, who):
        body = {"note": "已处理"} if action != "resolve" else {
            "note": "已更换灯泡", "photo_ids": [upload_photo(self.client, self.world.staff[who])]}
        if action in REASONS:
            body["reason"] = REASONS[action]
        return body

    def _snapshot(self, ticket_id) -> dict:
        """The ticket as staff see it through the API: what any change would show in."""
        response = self.client.get(f"/api/v1/tickets/{ticket_id}", headers=self.world.staff["community"])
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        return {name: body[name] for name in (
            "status", "version", "level", "assignee", "me_too_count", "reopen_count", "rating")} | {
            "timeline": len(body["timeline"])}

    def _assert_refused(self, response, status, before, ticket_id, code=None):
        assert response.status_code == status, (status, response.get_json())
        self.world.tally[(self._last_action, status)] += 1
        body = response.get_json()
        assert set(body) == {"code", "message", "errors"}
        if code:
            assert body["code"] == code, body
        assert self._snapshot(ticket_id) == before

    def _in_scope(self, who, expected: Expected) -> bool:
        if who == "community":
            return True
        return expected.grid == 0 or expected.assignee == self.world.names["worker"]

    def _act(self, ticket_id, action, who, body, *, target_name=None, merge_into=None):
        """Send one staff action and check the answer against the model's prediction."""
        expected = self.model[ticket_id]
        before = self._snapshot(ticket_id)
        response = self.client.post(f"/api/v1/tickets/{ticket_id}/actions",
                                    json={"action": action, **body}, headers=self.world.staff[who])
        self._last_action = action
        # The state machine's order of checks: the actor (scope 404, role 403), the status (409),
        # then what the action needs (422).
        if not self._in_scope(who, expected):
            return self._assert_refused(response, 404, before, ticket_id, "ticket_not_found")
        if action in ("reassign", "dispatch") and who != "community":
            return self._assert_refused(response, 403, before, ticket_id, "supervisor_only")
        legal = (TicketStatus(expected.status), Action(action)) in TRANSITIONS
        if not legal:
            return self._assert_refused(response, 409, before, ticket_id, "invalid_transition")
        if action == "reassign" and target_name == expected.assignee:
            return self._assert_refused(response, 422, before, ticket_id)
        if action == "merge":
            into = self.model[merge_into]
            if merge_into == ticket_id or into.building != expected.building or into.status not in OPEN:
                return self._assert_refused(response, 422, before, ticket_id)
        if action == "escalate" and expected.level == LADDER[-1]:
            return self._assert_refused(response, 409, before, ticket_id, "invalid_transition")
        assert response.status_code == 200, (action, expected, response.get_json())
        self._moved(expected, action, self._predict(expected, action, who, target_name, merge_into),
                    response.get_json())

    def _predict(self, expected: Expected, action, who, target_name, merge_into) -> str:
        """The status after a legal action, and the model's other fields changed with it."""
        if action == "accept":
            return "accepted"
        if action == "resolve":
            return "resolved"
        if action == "return":
            expected.returns += 1
            if expected.returns > MAX_RETURNS_TO_QUEUE:
                expected.assignee, expected.level = self.world.names["community"], "community"
                return "dispatched"
            expected.assignee = None
            return "pending"
        if action in ("reassign", "dispatch"):
            expected.assignee = target_name
            return "dispatched"
        if action == "escalate":
            expected.level = LADDER[LADDER.index(expected.level) + 1]
            return expected.status
        if action == "reject":
            return "rejected"
        if action == "merge":
            self.model[merge_into].me_too += 1
            return "merged"
        raise AssertionError(action)

    def _moved(self, expected: Expected, action, after, shown):
        """A legal move: the table allows it, the model predicted it, the API shows it."""
        self.world.tally[(action, 200)] += 1
        move = TRANSITIONS[(TicketStatus(expected.status), Action(action))]
        assert TicketStatus(after) in move.targets
        assert shown["status"] == after, (action, expected, shown["status"])
        expected.status = after
        expected.events += 1
        expected.actions.append(action)
        assert len(shown["timeline"]) == expected.events
        assert (shown["assignee"] or {}).get("name") == expected.assignee
        assert shown["level"] == expected.level
        assert shown["reopen_count"] == expected.reopens


def _replay(events: list[TicketEvent]) -> tuple[str, dict[str, int]]:
    """Walk a ticket's events from the first: each starts where the previous ended and is a
    move of the transition table; returns the last status and the counted actions."""
    status = None
    counters = {"return": 0, "reopen": 0}
    assert events and events[0].action == Action.SUBMIT.value
    for event in events:
        assert event.from_status == status, (event.action, event.from_status, status)
        before = TicketStatus(status) if status else None
        move = TRANSITIONS.get((before, Action(event.action)))
        assert move is not None, (status, event.action)
        assert TicketStatus(event.to_status) in move.targets, (status, event.action, event.to_status)
        status = event.to_status
        if event.action in counters:
            counters[event.action] += 1
    return status, counters


@pytest.fixture
def world(app_ctx, client):
    return World(client)


def test_ticket_lives_keep_their_invariants(world):
    """The machine's runs keep every invariant, and between them they took every action
    through a legal move and saw each kind of refusal."""
    run_state_machine_as_test(
        lambda: TicketLives(world),
        settings=settings(
            max_examples=MACHINES,
            stateful_step_count=STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    _covered(world.tally)


def test_the_replay_refuses_a_log_that_skips_a_step():
    """The replay is a real check: an event that does not start where the last one ended, or
    a move the table does not have, fails it."""
    submit = TicketEvent(action="submit", from_status=None, to_status="dispatched")
    resolve = TicketEvent(action="resolve", from_status="dispatched", to_status="resolved")
    with pytest.raises(AssertionError):
        _replay([submit, resolve])  # dispatched → resolve is not in the table
    accept = TicketEvent(action="accept", from_status="dispatched", to_status="accepted")
    confirm = TicketEvent(action="confirm", from_status="resolved", to_status="closed")
    with pytest.raises(AssertionError):
        _replay([submit, accept, confirm])  # starts at resolved, the log says accepted
    assert _replay([submit, accept]) == ("accepted", {"return": 0, "reopen": 0})


def _covered(tally: Counter) -> None:
    moved = {action for (action, status) in tally if status == 200}
    assert moved >= {"accept", "resolve", "return", "reassign", "dispatch", "escalate", "reject",
                     "merge", "confirm", "reopen"}, tally
    assert {status for (_, status) in tally} >= {200, 403, 404, 409, 422}, tally
