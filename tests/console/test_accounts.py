"""/console/staff over HTTP: who may open it, create, reset once, leave, away, CSRF, audit."""
from __future__ import annotations

import re

import pytest

from tests.console.helpers import csrf_token, sign_in, sign_in_as
from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.models import Community, Grid
from webapp.tickets.models import Ticket, TicketEvent, TicketStatus


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def admin(registry):
    person = make_person("管理员", code="P-ADM")
    db.session.add(StaffAssignment(person=person, role=Role.ADMIN))
    db.session.commit()
    return person


@pytest.fixture
def outsider(registry):
    """The worker of a grid in another community."""
    community = Community(code="FL-02", name="和平社区", street=registry.street)
    db.session.add(community)
    db.session.flush()
    worker = make_person("陈静", code="P-CJ")
    grid = Grid(code="FL-02-G1", name="和平网格", community=community, worker=worker)
    db.session.add_all([community, grid, StaffAssignment(person=worker, role=Role.GRID_WORKER, grid=grid)])
    db.session.commit()
    return worker


def _post(client, path: str, data: dict | None = None, page: str | None = None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, page or path)})


def _audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    return db.session.query(AuditEntry).filter_by(action=action).all()


def test_a_grid_worker_gets_403_on_accounts_and_no_menu_entry(client, registry):
    sign_in_as(client, registry.workers[0])
    for path in ("/console/staff", "/console/staff/new", f"/console/staff/{registry.workers[1].id}"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "只有管理员和社区工作人员可以管理人员账号" in response.get_data(as_text=True)
    assert "人员账号" not in client.get("/console/").get_data(as_text=True)


def test_community_staff_see_their_community_and_cannot_touch_another(client, registry, outsider):
    sign_in_as(client, registry.community_staff)
    page = client.get("/console/staff").get_data(as_text=True)
    assert "张丽" in page and "网格员" in page and "在岗" in page and "陈静" not in page
    assert "grid_worker" not in page  # roles in Chinese only
    assert client.get(f"/console/staff/{outsider.id}").status_code == 404
    token = csrf_token(client, f"/console/staff/{registry.workers[0].id}")
    response = client.post(f"/console/staff/{outsider.id}/password", data={"csrf_token": token})
    assert response.status_code == 404
    # The form offers no admin role; a forged one is refused and changes nothing.
    form = client.get("/console/staff/new").get_data(as_text=True)
    assert 'name="admin"' not in form and "街道工作人员" not in form
    response = client.post("/console/staff/new", data={
        "csrf_token": token, "code": "P099", "name": "冒充", "admin": "1",
    })
    assert response.status_code == 403
    assert db.session.query(Person).filter_by(code="P099").first() is None


def test_create_staff_shows_the_first_password_once(client, registry, admin):
    sign_in_as(client, admin)
    response = _post(client, "/console/staff/new", {
        "code": "P021", "name": "新人", "phone": "13900001111",
        f"scope_{Role.GRID_WORKER.value}": str(registry.grids[0].id),
    }, page="/console/staff/new")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    password = re.search(r'id="new-password">([^<]+)<', page).group(1)
    person = db.session.query(Person).filter_by(code="P021").one()
    assert password not in client.get(f"/console/staff/{person.id}").get_data(as_text=True)
    assert password not in client.get("/console/staff").get_data(as_text=True)
    other = client.application.test_client()
    assert sign_in(other, "P021", password).status_code == 303
    assert _audit("staff_created")[0].actor_id == admin.id


def test_reset_shows_the_password_once_and_the_old_one_stops_working(client, registry):
    worker = registry.workers[0]
    sign_in_as(client, registry.community_staff)
    from tests.console.helpers import give_password

    give_password(worker, "old-password-99")
    response = _post(client, f"/console/staff/{worker.id}/password", page=f"/console/staff/{worker.id}")
    assert response.status_code == 200
    password = re.search(r'id="new-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert "只显示这一次" in response.get_data(as_text=True)
    assert password not in client.get(f"/console/staff/{worker.id}").get_data(as_text=True)
    other = client.application.test_client()
    assert sign_in(other, worker.code, "old-password-99").status_code == 401
    assert sign_in(other, worker.code, password).status_code == 303
    assert [e.detail["by"] for e in _audit("password_set") if e.actor_id == registry.community_staff.id] == ["console"]


def test_deactivation_returns_open_tickets_to_the_queue_and_blocks_sign_in_and_tokens(client, registry):
    worker = registry.workers[0]
    resident = auth_headers(client, openid="acc-resident")
    ticket = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    assert ticket["assignee"]["name"] == "张丽"
    worker_api = auth_headers(client, worker)
    from tests.console.helpers import give_password

    give_password(worker, "worker-pass-123")
    sign_in_as(client, registry.community_staff)
    confirm = client.get(f"/console/staff/{worker.id}/deactivate").get_data(as_text=True)
    assert 'id="held-count">1<' in confirm
    response = _post(client, f"/console/staff/{worker.id}/deactivate", page=f"/console/staff/{worker.id}/deactivate")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "离岗" in page and "已停用该账号" in page
    db.session.expire_all()
    row = db.session.get(Ticket, ticket["id"])
    assert row.status is TicketStatus.PENDING and row.assignee_id is None
    event = db.session.query(TicketEvent).filter_by(ticket_id=row.id, action="unassign").one()
    assert event.actor_id == registry.community_staff.id
    assert sign_in(client.application.test_client(), worker.code, "worker-pass-123").status_code == 401
    assert client.get("/api/v1/work/tickets", headers=worker_api).status_code == 401
    assert _audit("staff_deactivated")[0].target_id == worker.id
    # New tickets of the grid pass them by: no worker, no stand-in, so the community queue.
    again = submit(client, resident, registry.codes[registry.buildings[0].id], description="又坏了一盏灯，很黑").get_json()
    assert again["status"] == "pending"


def test_away_routes_new_tickets_to_the_stand_in_and_back_again(client, registry):
    worker, standin = registry.workers
    sign_in_as(client, registry.community_staff)
    response = _post(client, f"/console/staff/{worker.id}/away", {"standin": standin.id}, page=f"/console/staff/{worker.id}")
    assert response.status_code == 303
    assert "代班人：王强" in client.get(f"/console/staff/{worker.id}").get_data(as_text=True)
    resident = auth_headers(client, openid="away-resident")
    code = registry.codes[registry.buildings[0].id]
    assert submit(client, resident, code).get_json()["assignee"]["name"] == "王强"
    _post(client, f"/console/staff/{worker.id}/back", page=f"/console/staff/{worker.id}")
    assert submit(client, resident, code, category="fire_lane", description="消防通道被车堵住了").get_json()["assignee"]["name"] == "张丽"
    assert len(_audit("staff_away")) == 1 and len(_audit("staff_back")) == 1


def test_roles_and_work_phone_are_saved_and_audited(client, registry):
    worker = registry.workers[1]
    sign_in_as(client, registry.community_staff)
    page = f"/console/staff/{worker.id}"
    response = _post(client, f"{page}/roles", {
        f"scope_{Role.GRID_WORKER.value}": str(registry.grids[1].id),
        f"scope_{Role.WISH_READER.value}": str(registry.community.id),
    }, page=page)
    assert response.status_code == 303
    assert "心语心愿处理人" in client.get(page).get_data(as_text=True)
    bad = _post(client, f"{page}/phone", {"work_phone": "电话", "publish_phone": "1"}, page=page)
    assert bad.status_code == 422 and "电话号码格式不正确" in bad.get_data(as_text=True)
    assert _post(client, f"{page}/phone", {"work_phone": "0530-8231234", "publish_phone": "1"}, page=page).status_code == 303
    db.session.expire_all()
    assert db.session.get(Person, worker.id).work_phone == "0530-8231234"
    assert len(_audit("staff_roles_set")) == 1 and len(_audit("staff_phone_set")) == 1


def test_a_post_without_its_form_token_changes_nothing(client, registry):
    worker = registry.workers[0]
    sign_in_as(client, registry.community_staff)
    for path, data in (
        (f"/console/staff/{worker.id}/deactivate", {}),
        (f"/console/staff/{worker.id}/password", {}),
        (f"/console/staff/{worker.id}/away", {}),
        ("/console/staff/new", {"code": "P077", "name": "某人", f"scope_{Role.GRID_WORKER.value}": str(registry.grids[0].id)}),
    ):
        assert client.post(path, data=data).status_code == 400, path
    db.session.expire_all()
    person = db.session.get(Person, worker.id)
    assert person.deactivated_at is None and not person.is_away
    assert db.session.query(Person).filter_by(code="P077").first() is None
    assert _audit("staff_deactivated") == [] and _audit("staff_created") == []
