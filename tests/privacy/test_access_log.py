"""The access log: a staff member's view of personal data (a full contact phone, a wish's text,
a rating comment, authors' names) is one audit entry per read path; the author's own views and
views of nothing personal write none."""
from __future__ import annotations

from sqlalchemy import select

from tests.console.helpers import sign_in_as
from tests.factories import auth_headers, submit
from webapp.audit import trail
from webapp.audit.models import AuditEntry
from webapp.extensions import db

VIEWED = trail.Action.PERSONAL_DATA_VIEWED.value


def _views() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == VIEWED).order_by(AuditEntry.id)))


def test_a_staff_view_of_a_contact_phone_through_the_api_is_logged_once(client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    with_phone = submit(client, resident, code, contact_phone="13912345678").get_json()["id"]
    without = submit(client, resident, code).get_json()["id"]
    client.get(f"/api/v1/tickets/{with_phone}", headers=resident)  # the author: not logged
    worker = auth_headers(client, registry.workers[0])
    client.get(f"/api/v1/tickets/{without}", headers=worker)  # nothing personal shown
    assert _views() == []
    assert client.get(f"/api/v1/tickets/{with_phone}", headers=worker).status_code == 200
    (entry,) = _views()
    assert (entry.actor_id, entry.target_type, entry.target_id) == (registry.workers[0].id, "ticket", with_phone)
    assert entry.detail == {"shown": ["contact_phone"], "door": "api"}
    client.post(f"/api/v1/tickets/{with_phone}/actions", json={"action": "accept"}, headers=worker)
    assert len(_views()) == 2  # the action's answer shows the number again


def test_a_wish_readers_queue_and_wish_view_are_logged(client, registry, resident, reader):
    code = registry.codes[registry.buildings[0].id]
    wish = submit(client, resident, code, kind="wish", category="wish", description="希望加装晾衣架").get_json()["id"]
    submit(client, resident, code)
    headers = auth_headers(client, reader)
    listed = client.get("/api/v1/work/tickets", headers=headers)
    assert listed.status_code == 200
    assert client.get(f"/api/v1/tickets/{wish}", headers=headers).status_code == 200
    queue_entry, ticket_entry = _views()
    assert queue_entry.detail == {"shown": ["wish_text"], "tickets": [wish], "door": "api"}
    assert ticket_entry.detail == {"shown": ["wish_text"], "door": "api"} and ticket_entry.target_id == wish
    worker = auth_headers(client, registry.workers[0])
    client.get("/api/v1/work/tickets", headers=worker)  # reports only: nothing logged
    assert len(_views()) == 2


def test_the_consoles_wish_box_and_ticket_page_are_logged(client, registry, resident, reader):
    code = registry.codes[registry.buildings[0].id]
    wish = submit(client, resident, code, kind="wish", category="wish", description="希望加装晾衣架").get_json()["id"]
    assert sign_in_as(client, reader).status_code == 303
    assert client.get("/console/wishes").status_code == 200
    assert client.get(f"/console/tickets/{wish}").status_code == 200
    box, page = _views()
    assert box.detail == {"shown": ["wish_text", "reporter_name"], "tickets": [wish], "door": "console"}
    assert page.detail == {"shown": ["wish_text"], "door": "console"} and page.target_id == wish
    assert trail.action_label(VIEWED) == "查看个人信息"
    assert trail.describe_detail(box.detail)[0] == "查看内容：心愿内容、反映人姓名"


def test_a_staff_members_mobile_number_on_the_consoles_account_page_is_logged(client, registry):
    """The account page shows a staff member's own mobile number (sealed at rest): another
    admin's view of it is logged; one's own page, or a page without a number, is not."""
    from tests.factories import make_person
    from webapp.people.models import Role, StaffAssignment

    admin = make_person("管理员", "13900000009", code="A001")
    db.session.add(StaffAssignment(person_id=admin.id, role=Role.ADMIN))
    worker = registry.workers[0]
    worker.phone = "13812345678"
    db.session.commit()
    assert sign_in_as(client, admin).status_code == 303
    assert client.get(f"/console/staff/{admin.id}").status_code == 200  # their own page
    assert _views() == []
    page = client.get(f"/console/staff/{worker.id}")
    assert page.status_code == 200 and "13812345678" in page.get_data(as_text=True)
    (entry,) = _views()
    assert (entry.actor_id, entry.target_type, entry.target_id) == (admin.id, "person", worker.id)
    assert entry.detail == {"shown": ["mobile_phone"], "door": "console"}
    assert trail.describe_detail(entry.detail)[0] == "查看内容：手机号码"
    worker.phone = None
    db.session.commit()
    assert client.get(f"/console/staff/{worker.id}").status_code == 200  # no number shown
    assert len(_views()) == 1
