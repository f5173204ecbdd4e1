"""The lists staff pick from: GET /api/v1/work/staff and GET /api/v1/work/reasons, and the
rule they share with the actions (a dispatch or reassignment goes to someone on the list)."""
from __future__ import annotations

import pytest

from tests.factories import make_person, make_registry, session_headers, submit
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import Community, Grid
from webapp.tickets.state_machine import REASONS


@pytest.fixture
def registry(app_ctx):
    registry = make_registry()
    other = Community(code="FL-02", name="和谐社区", street=registry.street)
    db.session.add(other)
    db.session.flush()
    outsider = make_person("周峰", "13600009999", code="P-ZF")
    db.session.add(Grid(code="FL-02-G1", name="第1网格", community=other, worker=outsider))
    db.session.flush()
    db.session.add(StaffAssignment(person=outsider, role=Role.GRID_WORKER,
                                   grid_id=db.session.query(Grid).filter_by(code="FL-02-G1").one().id))
    db.session.commit()
    registry.outsider = outsider
    return registry


def _names(response) -> list[tuple[str, str, str]]:
    assert response.status_code == 200, response.get_json()
    return [(i["name"], i["role"], i["scope"]) for i in response.get_json()["items"]]


def test_community_staff_see_their_communitys_staff_and_its_matrix_professionals(client, registry):
    listed = _names(client.get("/api/v1/work/staff", headers=session_headers(registry.community_staff)))
    assert ("张丽", "grid_worker", "幸福社区第1网格") in listed
    assert ("王强", "grid_worker", "幸福社区第2网格") in listed
    assert ("赵敏", "community_staff", "幸福社区") in listed
    assert ("李建国", "professional", "住建局") in listed
    assert all(name != "周峰" for name, _, _ in listed)  # another community's worker


def test_the_list_filters_by_role_and_text(client, registry):
    headers = session_headers(registry.community_staff)
    assert _names(client.get("/api/v1/work/staff?role=grid_worker&q=张", headers=headers)) == [
        ("张丽", "grid_worker", "幸福社区第1网格")
    ]
    assert _names(client.get("/api/v1/work/staff?q=P-WQ", headers=headers)) == [
        ("王强", "grid_worker", "幸福社区第2网格")
    ]
    assert _names(client.get("/api/v1/work/staff?q=%25", headers=headers)) == []  # no wildcard
    bad = client.get("/api/v1/work/staff?role=mayor", headers=headers)
    assert bad.status_code == 422 and bad.get_json()["errors"]["role"] == ["未知的角色"]


def test_street_staff_see_every_community_of_their_street(client, registry):
    street = make_person("陈志强", "13500001234", code="P-CZQ")
    db.session.add(StaffAssignment(person=street, role=Role.STREET_STAFF, street_id=registry.street.id))
    db.session.commit()
    listed = _names(client.get("/api/v1/work/staff", headers=session_headers(street)))
    assert ("周峰", "grid_worker", "和谐社区第1网格") in listed and ("张丽", "grid_worker", "幸福社区第1网格") in listed


def test_residents_get_403_and_strangers_401(client, registry):
    resident = make_person("居民", "13900000000")
    db.session.commit()
    for path in ("/api/v1/work/staff", "/api/v1/work/reasons"):
        assert client.get(path, headers=session_headers(resident)).status_code == 403
        assert client.get(path).status_code == 401


def test_reasons_list_every_action_that_takes_one_with_chinese_labels(client, registry):
    response = client.get("/api/v1/work/reasons", headers=session_headers(registry.workers[0]))
    body = response.get_json()
    assert set(body) == {"return", "reassign", "escalate", "reject", "merge"}
    assert {"code": "wrong_grid", "label": "不属于本网格"} in body["return"]
    for action, choices in REASONS.items():
        assert [r["code"] for r in body[action.value]] == list(choices)


def test_a_reassignment_goes_only_to_someone_on_the_list(client, registry):
    resident = session_headers(make_person("居民", "13900000001", openid="o-r"))
    ticket_id = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()["id"]
    staff = session_headers(registry.community_staff)
    act = lambda body: client.post(f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=staff)  # noqa: E731
    refused = act({"action": "reassign", "target": registry.outsider.id})
    assert refused.status_code == 422 and refused.get_json()["code"] == "target_not_assignable"
    unknown = act({"action": "reassign", "target": registry.workers[1].id, "reason": "because"})
    assert unknown.status_code == 422 and unknown.get_json()["code"] == "unknown_reason"
    assert "不属于本网格" not in unknown.get_json()["errors"]["reason"][0]
    assert "接收人不对" in unknown.get_json()["errors"]["reason"][0]
    done = act({"action": "reassign", "target": registry.workers[1].id, "reason": "on_leave"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["assignee"]["name"] == "王强"


def test_return_still_needs_its_reason_in_chinese(client, registry):
    resident = session_headers(make_person("居民", "13900000002", openid="o-r2"))
    ticket_id = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()["id"]
    worker = session_headers(registry.workers[0])
    response = client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "return"}, headers=worker)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "reason_required" and body["message"] == "退单需要选择原因"
    assert body["errors"]["reason"] == ["可选：不属于本网格、问题类别不对、不属于本人/本部门职责、超出处理能力，需要上级协调"]
