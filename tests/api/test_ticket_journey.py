"""The resident's whole path, as the mini-program walks it: scan → upload → submit → follow →
staff resolve → feedback closes or reopens."""
from __future__ import annotations

import json

import pytest

from tests.factories import auth_headers, make_registry, submit, upload_photo
from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.tickets.models import Ticket, TicketEvent


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def resident(client, registry):
    return auth_headers(client, openid="resident-a")


def _resolve(client, registry, ticket_id, worker):
    headers = auth_headers(client, worker)
    assert client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept"}, headers=headers).status_code == 200
    after = upload_photo(client, headers)
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/actions",
        json={"action": "resolve", "note": "已更换灯泡", "photo_ids": [after]},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_report_reaches_grid_worker_and_closes_with_rating(client, registry, resident):
    building = registry.buildings[0]
    code = registry.codes[building.id]
    assert client.get(f"/api/v1/scan/{code}").status_code == 200
    photo = upload_photo(client, resident)
    response = submit(client, resident, code, unit="1单元", photo_ids=[photo])
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["status"] == "dispatched"
    assert created["assignee"] == {"role": "网格员", "name": "张丽"}
    assert created["number"].startswith("JY-") and created["number"].endswith("-0001")
    assert created["building"]["name"] == "1区1号楼"
    assert created["due_at"].endswith("+08:00")

    mine = client.get("/api/v1/tickets/mine", headers=resident).get_json()
    assert [t["id"] for t in mine["items"]] == [created["id"]]
    assert mine["next_cursor"] is None

    _resolve(client, registry, created["id"], registry.workers[0])
    detail = client.get(f"/api/v1/tickets/{created['id']}", headers=resident).get_json()
    assert detail["status"] == "resolved"
    assert [e["action"] for e in detail["timeline"]] == ["submit", "accept", "resolve"]
    assert detail["timeline"][0]["actor_role"] == "reporter"
    assert detail["timeline"][2]["photo_ids"]
    assert detail["photo_ids"] == [photo]

    rated = client.post(
        f"/api/v1/tickets/{created['id']}/feedback",
        json={"resolved": True, "rating": 5, "comment": "很及时"},
        headers=resident,
    )
    assert rated.status_code == 200
    assert rated.get_json()["status"] == "closed"
    assert rated.get_json()["rating"] == 5


def test_not_fixed_reopens_to_same_handler(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    ticket_id = submit(client, resident, code).get_json()["id"]
    _resolve(client, registry, ticket_id, registry.workers[0])
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/feedback", json={"resolved": False, "rating": 1}, headers=resident
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "dispatched"
    assert body["reopen_count"] == 1
    assert body["assignee"]["name"] == "张丽"


def test_department_category_goes_to_professional_and_standin_when_away(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    first = submit(client, resident, code, category="elevator", description="电梯困人，按钮失灵")
    assert first.get_json()["assignee"] == {"role": "专业网格员", "name": "李建国"}
    rule = db.session.query(TicketEvent.rule).filter_by(ticket_id=first.get_json()["id"]).scalar()
    assert rule == "matrix"

    grid = registry.grids[0]
    grid.worker.is_away = True
    grid.standin_id = registry.workers[1].id
    db.session.commit()
    second = submit(client, resident, code, description="楼道灯一直闪，晚上很吓人")
    assert second.get_json()["assignee"]["name"] == "王强"
    rule = db.session.query(TicketEvent.rule).filter_by(ticket_id=second.get_json()["id"]).scalar()
    assert rule == "grid_standin"


def test_no_one_responsible_waits_in_community_queue(client, registry, resident):
    from webapp.registry.models import Responsibility

    db.session.query(Responsibility).delete()
    db.session.commit()
    code = registry.codes[registry.buildings[0].id]
    body = submit(client, resident, code, category="elevator", description="电梯异响，担心安全").get_json()
    assert body["status"] == "pending"
    assert body["assignee"] is None


def test_same_key_same_body_makes_one_ticket(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    first = submit(client, resident, code, key="k-1")
    again = submit(client, resident, code, key="k-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert db.session.query(Ticket).count() == 1


def test_refused_submissions_and_replays_take_no_day_number(client, registry, resident):
    """The day's number is taken with the facts on PostgreSQL (one statement): a code that
    does not exist, a unit the building lacks, a revoked code and a replay of a key take none."""
    building = registry.buildings[0]
    code = registry.codes[building.id]
    key = "same-key-for-the-replay"
    first = submit(client, resident, code, key=key)
    assert first.status_code == 201 and first.get_json()["number"].endswith("-0001")
    assert submit(client, resident, code, key=key).status_code == 200  # a replay
    assert submit(client, resident, code, unit="99单元").status_code == 422  # no such unit
    assert submit(client, resident, "NoSuchCode0000000000ab").status_code == 404
    revoked = registry.codes[registry.buildings[1].id]
    from webapp.registry.models import BuildingCode

    db.session.query(BuildingCode).filter_by(code=revoked).update({"revoked_at": db.func.now()})
    db.session.commit()
    assert submit(client, resident, revoked).status_code == 410
    second = submit(client, resident, code, unit="1单元")
    assert second.status_code == 201 and second.get_json()["number"].endswith("-0002")


def test_same_key_other_body_is_422(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    submit(client, resident, code, key="k-2")
    other = submit(client, resident, code, key="k-2", description="另外一件事：垃圾没人清运")
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency_key_reused"


def test_server_owned_fields_in_body_change_nothing(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    other_building = registry.buildings[3]
    response = submit(
        client, resident, code,
        status="closed", assignee="someone", building_id=other_building.id,
        reporter="another-person", grid="x",
    )
    assert response.status_code == 201
    ticket = db.session.get(Ticket, response.get_json()["id"])
    assert ticket.status.value == "dispatched"
    assert ticket.building_id == registry.buildings[0].id
    assert ticket.assignee_id == registry.workers[0].id
    person = db.session.query(Person).filter_by(openid="resident-a").one()
    assert ticket.reporter_id == person.id


def test_me_too_counts_once_and_lets_follower_see_without_reporter(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    ticket_id = submit(client, resident, code, contact_phone="13911112222").get_json()["id"]
    neighbour = auth_headers(client, openid="resident-b")
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=neighbour).status_code == 404
    assert client.post(f"/api/v1/tickets/{ticket_id}/me-too", headers=neighbour).get_json() == {"me_too_count": 1}
    assert client.post(f"/api/v1/tickets/{ticket_id}/me-too", headers=neighbour).get_json() == {"me_too_count": 1}
    seen = client.get(f"/api/v1/tickets/{ticket_id}", headers=neighbour).get_json()
    assert seen["is_reporter"] is False
    assert seen["contact_phone"] is None
    assert client.post(f"/api/v1/tickets/{ticket_id}/me-too", headers=resident).status_code == 409
    scan = client.get(f"/api/v1/scan/{code}").get_json()
    assert scan["open_tickets"][0]["me_too_count"] == 1


def test_duplicate_within_a_day_is_flagged_to_staff(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    first = submit(client, resident, code).get_json()["id"]
    neighbour = auth_headers(client, openid="resident-c")
    second = submit(client, neighbour, code, description="楼道灯不亮好几天了").get_json()["id"]
    worker = auth_headers(client, registry.workers[0])
    assert client.get(f"/api/v1/tickets/{second}", headers=worker).get_json()["duplicate_of"] == first


def test_wish_is_private_and_anonymous_wish_keeps_no_openid(client, registry, resident):
    reader = Person(name="孙芳", phone="13500003333")
    db.session.add(reader)
    db.session.add(StaffAssignment(person=reader, role=Role.WISH_READER, community=registry.community))
    db.session.commit()
    code = registry.codes[registry.buildings[0].id]
    response = submit(
        client, resident, code, kind="wish", category="wish",
        description="希望小区能加装一个晾衣架", anonymous=True,
    )
    assert response.status_code == 201
    wish = response.get_json()
    assert wish["assignee"]["name"] == "孙芳"
    row = db.session.get(Ticket, wish["id"])
    assert row.reporter_id is None and row.is_anonymous
    events = db.session.query(TicketEvent).filter_by(ticket_id=wish["id"]).all()
    assert all(e.actor_id is None for e in events)
    # The author still finds it with the wish's secret (X-Wish-Secrets, docs/privacy.md); the
    # grid worker, the neighbours and the scan do not.
    with_secret = {**resident, "X-Wish-Secrets": wish["author_secret"]}
    assert [t["id"] for t in client.get("/api/v1/tickets/mine", headers=with_secret).get_json()["items"]] == [wish["id"]]
    worker = auth_headers(client, registry.workers[0])
    assert client.get(f"/api/v1/tickets/{wish['id']}", headers=worker).status_code == 404
    assert wish["id"] not in [t["id"] for t in client.get("/api/v1/work/tickets", headers=worker).get_json()["items"]]
    neighbour = auth_headers(client, openid="resident-d")
    assert client.get(f"/api/v1/tickets/{wish['id']}", headers=neighbour).status_code == 404
    assert client.post(f"/api/v1/tickets/{wish['id']}/me-too", headers=neighbour).status_code == 404
    assert client.get(f"/api/v1/scan/{code}").get_json()["open_tickets"] == []
    reader_headers = auth_headers(client, reader)
    assert client.get(f"/api/v1/tickets/{wish['id']}", headers=reader_headers).status_code == 200


def test_resident_cannot_see_follow_or_rate_another_residents_ticket(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    photo = upload_photo(client, resident)
    ticket_id = submit(client, resident, code, photo_ids=[photo]).get_json()["id"]
    other = auth_headers(client, openid="resident-e")
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=other).status_code == 404
    assert client.post(
        f"/api/v1/tickets/{ticket_id}/feedback", json={"resolved": True, "rating": 5}, headers=other
    ).status_code == 404
    assert client.get(f"/api/v1/photos/{photo}", headers=other).status_code == 404
    assert client.get("/api/v1/tickets/mine", headers=other).get_json()["items"] == []
    assert client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept"}, headers=other).status_code == 403


def test_mine_paginates_with_opaque_cursor_and_rejects_a_bad_one(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    ids = [submit(client, resident, code, description=f"第{i}个问题：楼道杂物堆放").get_json()["id"] for i in range(3)]
    first = client.get("/api/v1/tickets/mine?limit=2", headers=resident).get_json()
    assert [t["id"] for t in first["items"]] == ids[::-1][:2]
    second = client.get(f"/api/v1/tickets/mine?limit=2&cursor={first['next_cursor']}", headers=resident).get_json()
    assert [t["id"] for t in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    bad = client.get("/api/v1/tickets/mine?cursor=garbage!!", headers=resident)
    assert bad.status_code == 422
    assert "cursor" in bad.get_json()["errors"]
    assert client.get("/api/v1/tickets/mine?limit=101", headers=resident).status_code == 422


@pytest.mark.parametrize(
    "fields",
    [
        {},  # the grid worker, no unit
        {"unit": "2单元", "category": "elevator"},  # the matrix's professional, with a unit
        {"kind": "wish", "category": "wish"},  # the community queue (no wish reader)
        {"kind": "wish", "category": "wish", "anonymous": True, "unit": "1单元"},
    ],
)
def test_a_new_ticket_is_shown_as_the_schema_shows_it_once_read_back(client, registry, resident, fields):
    """The submission answers without reading the ticket back or running the schema's dump:
    its body is what TicketSchema dumps of the ticket as stored, as a list would show it."""
    from miniprogram_api.schemas.tickets import TicketSchema
    from webapp.people.actors import load_actor
    from webapp.tickets.presenter import TicketPresenter
    from webapp.tickets.wishes import author_secret

    if fields.get("kind") == "wish":
        reader = registry.community_staff  # also a wish reader: shown with the narrower role
        db.session.add(StaffAssignment(person_id=reader.id, role=Role.WISH_READER, community_id=registry.community.id))
        db.session.commit()
    response = submit(client, resident, registry.codes[registry.buildings[0].id], **fields)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    db.session.expire_all()
    stored = db.session.get(Ticket, body["id"])
    person_id = db.session.query(Person.id).filter_by(openid="resident-a").scalar()
    expected = TicketSchema().dump(TicketPresenter(load_actor(person_id)).summary(stored))
    if stored.is_anonymous:  # and the wish's secret, for the author's device (docs/privacy.md)
        expected["author_secret"] = author_secret(person_id, stored.created_at)
    ordered = lambda text: json.loads(text, object_pairs_hook=list)  # noqa: E731 (keys in order)
    assert ordered(response.get_data(as_text=True)) == ordered(json.dumps(expected))
    assert body["assignee"] is not None


@pytest.mark.parametrize("rating", [4.5, "4", True, 0, 6])
def test_a_rating_that_is_not_a_whole_number_from_1_to_5_is_422(client, registry, resident, rating):
    ticket_id = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()["id"]
    _resolve(client, registry, ticket_id, registry.workers[0])
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/feedback", json={"resolved": True, "rating": rating}, headers=resident
    )
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["errors"]) == ["rating"]
    ticket = db.session.get(Ticket, ticket_id)
    db.session.refresh(ticket)
    assert ticket.rating is None and ticket.status.value == "resolved"
