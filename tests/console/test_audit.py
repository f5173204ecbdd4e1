"""The audit trail page: admins only, searched by person, ticket, action and Beijing dates,
newest first and paginated, actions in Chinese; nothing on it changes an entry."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from tests.console.helpers import csrf_token, sign_in_as
from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.audit import trail
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def admin(registry):
    person = make_person("刘洋", "13900000001", code="P001")
    db.session.add(StaffAssignment(person=person, role=Role.ADMIN))
    db.session.commit()
    return person


def _record(action, *, actor=None, at=None, **kwargs):
    trail.record(action, actor_id=actor.id if actor else None, at=at, **kwargs)
    db.session.commit()


def _entries(page: str) -> list[str]:
    import re

    return re.findall(r'<strong class="what">(.*?)</strong>', page)


def test_audit_is_for_admins_only(client, registry):
    sign_in_as(client, registry.workers[0])  # a grid worker
    assert client.get("/console/audit").status_code == 403
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    sign_in_as(client, registry.community_staff)
    assert client.get("/console/audit").status_code == 403


def test_admin_sees_sign_ins_newest_first_in_chinese(client, admin, registry):
    sign_in_as(client, registry.workers[0])
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    sign_in_as(client, admin)
    page = client.get("/console/audit").get_data(as_text=True)
    labels = _entries(page)
    assert labels[0] == "登录" and "退出登录" in labels and "设置密码" in labels
    assert "张丽（P-ZL）" in page and "sign_in" not in _entries(page)


def test_search_by_person_code_or_name_finds_what_they_did_and_what_was_done_to_them(client, admin, registry):
    zhang, wang = registry.workers
    _record(trail.Action.SIGN_IN, actor=zhang)
    _record(trail.Action.SIGN_IN, actor=wang)
    _record(trail.Action.PASSWORD_SET, actor=admin, target_type="person", target_id=zhang.id)
    sign_in_as(client, admin)

    by_code = client.get("/console/audit?person=p-zl").get_data(as_text=True)
    by_name = client.get("/console/audit?person=张丽").get_data(as_text=True)
    assert _entries(by_code) == _entries(by_name) == ["设置密码", "登录"]
    assert "王强" not in by_code.split('id="audit-entries"')[1]
    assert "没有找到编码或姓名为“无此人”的人员" in client.get("/console/audit?person=无此人").get_data(as_text=True)


def test_search_by_ticket_number_and_by_action(client, admin, registry):
    resident = auth_headers(client, openid="audit-resident")
    ticket = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    _record(trail.Action.PHONE_SHOWN, actor=registry.workers[0], target_type="ticket", target_id=ticket["id"],
            detail={"reason": "回访"})
    _record(trail.Action.SIGN_IN, actor=registry.workers[0])
    sign_in_as(client, admin)

    page = client.get(f"/console/audit?ticket={ticket['number']}").get_data(as_text=True)
    assert _entries(page) == ["查看完整电话号码"]
    assert f"工单 {ticket['number']}" in page and f"/console/tickets/{ticket['id']}" in page
    only = client.get(f"/console/audit?action=phone_shown&ticket={ticket['id']}").get_data(as_text=True)
    assert _entries(only) == ["查看完整电话号码"]
    assert client.get("/console/audit?action=nonsense").status_code == 400


def test_search_by_beijing_dates(client, admin, registry):
    zhang = registry.workers[0]
    # 2026-11-28 23:30 in Beijing is 15:30 UTC the same day; 2026-11-29 00:30 Beijing is 16:30 UTC on the 28th.
    _record(trail.Action.SIGN_IN, actor=zhang, at=datetime(2026, 11, 28, 15, 30, tzinfo=timezone.utc))
    _record(trail.Action.SIGN_OUT, actor=zhang, at=datetime(2026, 11, 28, 16, 30, tzinfo=timezone.utc))
    sign_in_as(client, admin)

    day = client.get("/console/audit?person=P-ZL&from=2026-11-29&to=2026-11-29").get_data(as_text=True)
    assert _entries(day) == ["退出登录"]
    before = client.get("/console/audit?person=P-ZL&to=2026-11-28").get_data(as_text=True)
    assert _entries(before) == ["登录"]
    assert client.get("/console/audit?from=2026-11-30&to=2026-11-01").status_code == 400
    assert client.get("/console/audit?from=yesterday").status_code == 400


def test_pages_of_fifty_newest_first(client, admin, registry):
    for _ in range(60):
        trail.record(trail.Action.SIGN_IN_FAILED, detail={"username": "x"})
    db.session.commit()
    sign_in_as(client, admin)
    first = client.get("/console/audit?action=sign_in_failed").get_data(as_text=True)
    assert len(_entries(first)) == 50
    import re

    next_link = re.search(r'id="audit-next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "action=sign_in_failed" in next_link
    second = client.get(next_link).get_data(as_text=True)
    assert len(_entries(second)) == 10 and 'id="audit-next"' not in second


def test_the_trail_stays_append_only(client, admin, registry):
    _record(trail.Action.SIGN_IN, actor=registry.workers[0])
    entry = db.session.scalars(select(AuditEntry)).first()
    entry.action = "sign_out"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(AuditEntry)).first())
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    sign_in_as(client, admin)
    page = client.get("/console/audit").get_data(as_text=True)
    assert "<form method=\"post\"" not in page.split('id="audit-filters"')[1]  # no edit or delete
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) >= 1
