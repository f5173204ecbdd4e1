"""A resident's deletion request: DELETE /api/v1/me and flask privacy delete-person. Personal
data goes, tickets stay; staff accounts are refused; it is in the audit trail."""
from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import auth_headers, make_person, submit, upload_photo
from tests.privacy.conftest import stored
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.people.erasure import PLACEHOLDER_NAME
from webapp.people.models import AuthSession, Person
from webapp.tickets.models import MeToo, Photo, Ticket


def _person(openid: str) -> Person:
    return db.session.scalars(select(Person).where(Person.openid == openid)).one()


def _resolved(client, registry, ticket_id):
    worker = auth_headers(client, registry.workers[0])
    after = upload_photo(client, worker)
    for body in ({"action": "accept"}, {"action": "resolve", "note": "已处理", "photo_ids": [after]}):
        assert client.post(f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=worker).status_code == 200


def test_a_resident_deletes_their_personal_data_and_their_tickets_stay(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    person = _person("privacy-resident")
    person_id = person.id
    person.phone = "13900001111"
    db.session.commit()
    loose = upload_photo(client, resident)
    attached = upload_photo(client, resident)
    report = submit(client, resident, code, contact_phone="13900001111", photo_ids=[attached]).get_json()
    _resolved(client, registry, report["id"])
    rated = client.post(f"/api/v1/tickets/{report['id']}/feedback", json={"resolved": True, "rating": 5, "comment": "谢谢张师傅"}, headers=resident)
    assert rated.status_code == 200, rated.get_json()
    neighbours = submit(client, auth_headers(client, openid="privacy-neighbour"), code).get_json()
    assert client.post(f"/api/v1/tickets/{neighbours['id']}/me-too", headers=resident).status_code == 200
    # The same number given on a ticket of another account (e.g. the phone page as a guest).
    guest_ticket = submit(client, auth_headers(client, openid="privacy-guest"), code, contact_phone="13900001111").get_json()
    assert stored("tickets", "contact_phone", guest_ticket["id"]) is not None

    response = client.delete("/api/v1/me", headers=resident)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["deleted"] is True and response.get_json()["tickets"] >= 3

    assert client.get("/api/v1/tickets/mine", headers=resident).status_code == 401
    db.session.expire_all()
    person = db.session.get(Person, person_id)
    assert (person.openid, person.name, person.phone, person.phone_hash) == (None, PLACEHOLDER_NAME, None, None)
    kept = db.session.get(Ticket, report["id"])
    assert kept is not None and kept.rating == 5 and kept.description
    assert (kept.contact_phone, kept.rating_comment) == (None, None)
    assert stored("tickets", "contact_phone", guest_ticket["id"]) is None
    assert db.session.scalar(select(func.count()).select_from(MeToo).where(MeToo.person_id == person_id)) == 0
    assert db.session.get(Ticket, neighbours["id"]).me_too_count == 1
    assert db.session.scalar(select(func.count()).select_from(AuthSession).where(AuthSession.person_id == person_id)) == 0
    assert db.session.get(Photo, loose) is None
    assert db.session.get(Photo, attached).uploader_id is None
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "person_deleted")).one()
    assert (entry.actor_id, entry.target_id, entry.detail["by"]) == (person_id, person_id, "self")


def test_a_staff_account_cannot_delete_itself_through_the_api(client, registry):
    headers = auth_headers(client, registry.workers[0])
    response = client.delete("/api/v1/me", headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == "staff_account" and "管理员" in response.get_json()["message"]
    db.session.expire_all()
    assert db.session.get(Person, registry.workers[0].id).phone == "13812345678"


def test_deletion_needs_a_token(client):
    assert client.delete("/api/v1/me").status_code == 401


def test_the_command_deletes_by_openid_or_phone(app_ctx, runner, registry):
    first = make_person("陈居民", "13700009999", openid="privacy-cli-1")
    second = make_person("林居民", "13700008888", openid="privacy-cli-2")
    db.session.commit()
    by_openid = runner.invoke(args=["privacy", "delete-person", "privacy-cli-1", "--yes"])
    assert by_openid.exit_code == 0, by_openid.output
    by_phone = runner.invoke(args=["privacy", "delete-person", "137-0000-8888", "--yes"])
    assert by_phone.exit_code == 0, by_phone.output
    db.session.expire_all()
    assert db.session.get(Person, first.id).name == PLACEHOLDER_NAME
    assert db.session.get(Person, second.id).phone is None
    unknown = runner.invoke(args=["privacy", "delete-person", "nobody", "--yes"])
    assert unknown.exit_code != 0 and "未找到该人员" in unknown.output
    # "--": an id may start with "-" (URL-safe base64), which click would read as an option.
    staff = runner.invoke(args=["privacy", "delete-person", "--yes", "--", registry.workers[0].id])
    assert staff.exit_code != 0 and "工作人员账号" in staff.output
