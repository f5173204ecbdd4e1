"""Every status × every action through the API: exactly the legal moves succeed; every
illegal one answers 409 and changes nothing."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.factories import auth_headers, make_person, make_registry, submit, upload_photo
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment
from webapp.tickets.models import Ticket, TicketEvent, TicketStatus

STAFF_ACTIONS = ["dispatch", "accept", "resolve", "return", "reassign", "escalate", "reject", "merge"]
REPORTER_ACTIONS = ["confirm", "reopen"]

# Written out by hand (not read from the transition table) so that the test checks the table.
LEGAL = {
    "pending": {"dispatch", "reassign", "escalate", "reject", "merge"},
    "dispatched": {"accept", "return", "reassign", "escalate", "reject", "merge"},
    "accepted": {"resolve", "return", "reassign", "escalate", "reject", "merge"},
    "resolved": {"confirm", "reopen"},
    "closed": set(),
    "rejected": set(),
    "merged": set(),
}
EXPECTED_AFTER = {
    ("pending", "dispatch"): "dispatched",
    ("pending", "reassign"): "dispatched",
    ("pending", "escalate"): "pending",
    ("dispatched", "accept"): "accepted",
    ("dispatched", "return"): "pending",
    ("dispatched", "reassign"): "dispatched",
    ("dispatched", "escalate"): "dispatched",
    ("accepted", "resolve"): "resolved",
    ("accepted", "return"): "pending",
    ("accepted", "reassign"): "dispatched",
    ("accepted", "escalate"): "accepted",
    ("resolved", "confirm"): "closed",
    ("resolved", "reopen"): "dispatched",
}


class World:
    def __init__(self, client, registry):
        self.client = client
        self.registry = registry
        self.code = registry.codes[registry.buildings[0].id]
        self.resident = auth_headers(client, openid="resident-sm")
        self.admin_person = make_person("周主任", "13300004444")
        db.session.add(StaffAssignment(person=self.admin_person, role=Role.ADMIN))
        db.session.commit()
        self.admin = auth_headers(client, self.admin_person)
        self.worker = registry.workers[0]

    def act(self, ticket_id, action, **body):
        if action in REPORTER_ACTIONS:
            payload = {"resolved": action == "confirm", "rating": 4}
            return self.client.post(f"/api/v1/tickets/{ticket_id}/feedback", json=payload, headers=self.resident)
        return self.client.post(
            f"/api/v1/tickets/{ticket_id}/actions", json={"action": action, **body}, headers=self.admin
        )

    def body_for(self, action, ticket_id):
        """What a careful user sends with each action, so only the status decides."""
        if action == "resolve":
            return {"note": "已处理完毕", "photo_ids": [upload_photo(self.client, self.admin)]}
        if action == "return":
            return {"reason": "wrong_grid"}
        if action in ("reassign", "dispatch"):
            ticket = db.session.get(Ticket, ticket_id)
            other = self.registry.workers[1] if ticket.assignee_id == self.worker.id else self.worker
            return {"target": other.id}
        if action == "reject":
            return {"reason": "invalid"}
        if action == "merge":
            target = submit(self.client, self.resident, self.code, description="同一问题，另一次反映").get_json()["id"]
            return {"target": target, "reason": "duplicate"}
        return {}

    def ticket_in(self, status):
        """Drive a fresh ticket to `status` through the API, as users would."""
        if status == "pending":
            from webapp.registry.models import Responsibility

            db.session.query(Responsibility).delete()
            db.session.commit()
            response = submit(self.client, self.resident, self.code, category="elevator", description="电梯门关不上")
            assert response.get_json()["status"] == "pending"
            return response.get_json()["id"]
        ticket_id = submit(self.client, self.resident, self.code).get_json()["id"]
        path = {
            "dispatched": [],
            "accepted": ["accept"],
            "resolved": ["accept", "resolve"],
            "closed": ["accept", "resolve", "confirm"],
            "rejected": ["reject"],
            "merged": ["merge"],
        }[status]
        for step in path:
            response = self.act(ticket_id, step, **self.body_for(step, ticket_id))
            assert response.status_code == 200, (step, response.get_json())
        assert db.session.get(Ticket, ticket_id).status.value == status
        return ticket_id


@pytest.fixture
def world(app_ctx, client):
    return World(client, make_registry())


def _snapshot(ticket_id):
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    events = db.session.query(TicketEvent).filter_by(ticket_id=ticket_id).count()
    return ticket.status, ticket.version, ticket.assignee_id, ticket.level, events


@pytest.mark.parametrize("status", [s.value for s in TicketStatus])
@pytest.mark.parametrize("action", STAFF_ACTIONS + REPORTER_ACTIONS)
def test_state_machine_every_status_and_action(world, status, action):
    ticket_id = world.ticket_in(status)
    body = world.body_for(action, ticket_id)
    before = _snapshot(ticket_id)
    response = world.act(ticket_id, action, **body)
    if action in LEGAL[status]:
        assert response.status_code == 200, response.get_json()
        after = _snapshot(ticket_id)
        assert after[0].value == EXPECTED_AFTER.get((status, action), after[0].value)
        if (status, action) not in EXPECTED_AFTER:
            assert after[0].value == {"reject": "rejected", "merge": "merged"}[action]
        assert after[1] == before[1] + 1
        assert after[4] == before[4] + 1
    else:
        assert response.status_code == 409, response.get_json()
        assert response.get_json()["code"] == "invalid_transition"
        assert _snapshot(ticket_id) == before


def test_two_staff_accepting_at_once_one_wins(world):
    """Two staff loaded the same version; the second write is stale: one 200, one 409, one event."""
    ticket_id = world.ticket_in("dispatched")
    version = db.session.get(Ticket, ticket_id).version
    worker = auth_headers(world.client, world.worker)
    first = world.client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept", "version": version}, headers=worker)
    second = world.client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept", "version": version}, headers=world.admin)
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert db.session.query(TicketEvent).filter_by(ticket_id=ticket_id, action="accept").count() == 1


def test_resolve_report_needs_after_photo(world):
    ticket_id = world.ticket_in("accepted")
    response = world.act(ticket_id, "resolve", note="已处理")
    assert response.status_code == 422
    assert "photo_ids" in response.get_json()["errors"]


def test_return_needs_reason_and_third_return_goes_to_community_head(world):
    ticket_id = world.ticket_in("dispatched")
    assert world.act(ticket_id, "return").status_code == 422
    for _ in range(2):
        assert world.act(ticket_id, "return", reason="wrong_grid").get_json()["status"] == "pending"
        assert world.act(ticket_id, "dispatch", target=world.worker.id).status_code == 200
    third = world.act(ticket_id, "return", reason="wrong_category").get_json()
    assert third["status"] == "dispatched"
    assert third["assignee"]["name"] == world.registry.community_staff.name


def test_reassign_is_for_community_staff_not_grid_workers(world):
    ticket_id = world.ticket_in("dispatched")
    worker = auth_headers(world.client, world.worker)
    response = world.client.post(
        f"/api/v1/tickets/{ticket_id}/actions",
        json={"action": "reassign", "target": world.registry.workers[1].id},
        headers=worker,
    )
    assert response.status_code == 403


def test_grid_worker_of_grid_1_cannot_list_read_or_act_on_grid_2(world):
    other_code = world.registry.codes[world.registry.buildings[-1].id]
    ticket_id = submit(world.client, world.resident, other_code).get_json()["id"]
    worker = auth_headers(world.client, world.worker)
    listed = world.client.get("/api/v1/work/tickets", headers=worker).get_json()["items"]
    assert ticket_id not in [t["id"] for t in listed]
    assert world.client.get(f"/api/v1/tickets/{ticket_id}", headers=worker).status_code == 404
    response = world.client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept"}, headers=worker)
    assert response.status_code == 404
    owner = auth_headers(world.client, world.registry.workers[1])
    assert ticket_id in [t["id"] for t in world.client.get("/api/v1/work/tickets", headers=owner).get_json()["items"]]


def test_status_is_written_in_one_place_only():
    """Only the state machine assigns a ticket's status."""
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"\.status\s*=[^=]")
    writers = [
        str(path.relative_to(root))
        for package in ("webapp", "miniprogram_api", "qr")
        for path in (root / package).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert writers == ["webapp/tickets/state_machine.py"]
