"""Signing in to the console with a username and password: sessions, lock-outs, CSRF, errors."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.console.conftest import RequestPerContextClient
from tests.console.helpers import PASSWORD, csrf_token, give_password, sign_in, sign_in_as
from tests.factories import auth_headers, make_person, make_registry
from webapp.audit.models import AuditEntry
from webapp.columns import utcnow
from webapp.extensions import db
from webapp.people import bindings
from webapp.people.models import Person, StaffAssignment


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _actions(person_id: str | None = None) -> list[str]:
    query = select(AuditEntry.action).order_by(AuditEntry.id)
    if person_id is not None:
        query = query.where(AuditEntry.actor_id == person_id)
    return list(db.session.scalars(query))


def _error(response) -> str:
    page = response.get_data(as_text=True)
    start = page.index('id="sign-in-error">') + len('id="sign-in-error">')
    return page[start : page.index("</p>", start)]


def test_sign_in_with_password_shows_the_queue_and_is_audited(client, registry):
    worker = registry.workers[0]
    response = sign_in_as(client, worker)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/"
    page = client.get("/console/").get_data(as_text=True)
    assert "我范围内的工单" in page and "张丽" in page
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in")).one()
    assert (entry.actor_id, entry.address, entry.detail) == (worker.id, "127.0.0.1", {"method": "password"})


def test_unknown_username_and_wrong_password_get_the_same_answer(client, registry):
    give_password(registry.workers[0])
    unknown = sign_in(client, "P-NOBODY", PASSWORD)
    wrong = sign_in(client, registry.workers[0].code, "wrong-password-1")
    no_password = sign_in(client, registry.workers[1].code, PASSWORD)  # staff without a password
    assert unknown.status_code == wrong.status_code == no_password.status_code == 401
    assert _error(unknown) == _error(wrong) == _error(no_password) == "用户名或密码错误"
    assert client.get("/console/").status_code == 302
    assert _actions() == ["password_set", "sign_in_failed", "sign_in_failed", "sign_in_failed"]


def test_a_resident_cannot_sign_in_even_with_a_password_hash(client, registry):
    from werkzeug.security import generate_password_hash

    resident = make_person("居民甲", code="R-001", password_hash=generate_password_hash(PASSWORD))
    db.session.commit()
    response = sign_in(client, resident.code, PASSWORD)
    assert response.status_code == 401
    assert _error(response) == "用户名或密码错误"
    assert client.get("/console/").status_code == 302


def test_the_sixth_attempt_is_refused_even_with_the_right_password_and_audited(client, registry):
    worker = registry.workers[0]
    give_password(worker)
    for _ in range(5):
        response = sign_in(client, worker.code, "wrong-password-1")
        assert response.status_code == 401
    sixth = sign_in(client, worker.code, PASSWORD)
    assert sixth.status_code == 429
    assert _error(sixth) == "密码错误次数过多，账号已锁定，请 15 分钟后再试"
    assert sixth.headers["Retry-After"] == "900"
    assert client.get("/console/").status_code == 302
    assert _actions(worker.id) == [
        "sign_in_failed", "sign_in_failed", "sign_in_failed", "sign_in_failed", "sign_in_failed",
        "account_locked", "sign_in_locked",
    ]
    # Once the lock has passed, the right password works and starts a new run.
    db.session.refresh(worker)
    worker.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert sign_in(client, worker.code, PASSWORD).status_code == 303
    db.session.refresh(worker)
    assert (worker.failed_sign_ins, worker.locked_until) == (0, None)


def test_a_sign_in_resets_the_run_of_wrong_passwords(client, registry):
    worker = registry.workers[0]
    give_password(worker)
    for _ in range(4):
        sign_in(client, worker.code, "wrong-password-1")
    assert sign_in(client, worker.code, PASSWORD).status_code == 303
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    for _ in range(4):
        assert sign_in(client, worker.code, "wrong-password-1").status_code == 401
    assert sign_in(client, worker.code, PASSWORD).status_code == 303


def test_too_many_failures_from_one_address_refuse_it_not_others(app, client, registry, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 3)
    give_password(registry.workers[0])
    for name in ("P-X1", "P-X2", "P-X3"):
        assert sign_in(client, name, "whatever-123").status_code == 401
    refused = sign_in(client, registry.workers[0].code, PASSWORD)
    assert refused.status_code == 429
    assert _error(refused) == "该地址登录失败次数过多，请 15 分钟后再试"
    other = RequestPerContextClient(app, app.response_class, use_cookies=True)
    data = {"username": registry.workers[0].code, "password": PASSWORD, "csrf_token": csrf_token(other)}
    response = other.post("/console/login", data=data, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 303
    assert "sign_in_throttled" in _actions()


def test_a_form_posted_without_its_csrf_token_changes_nothing(client, registry):
    worker = registry.workers[0]
    give_password(worker)
    response = client.post("/console/login", data={"username": worker.code, "password": PASSWORD})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "页面已过期" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302
    assert _actions() == ["password_set"]

    assert sign_in(client, worker.code).status_code == 303
    version = db.session.get(Person, worker.id).session_version
    refused = client.post("/console/logout", data={})
    assert refused.status_code == 400
    assert "操作未执行" in refused.get_data(as_text=True)
    assert 'id="sign-out"' in refused.get_data(as_text=True)  # the page has the console's menu
    forged = client.post("/console/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert client.get("/console/").status_code == 200  # still signed in
    db.session.expire_all()
    assert db.session.get(Person, worker.id).session_version == version
    assert "sign_out" not in _actions()


def test_sign_out_ends_the_session_and_a_copied_cookie_with_it(client, registry):
    worker = registry.workers[0]
    sign_in_as(client, worker)
    copied = client.get_cookie("session").value
    response = client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    assert response.status_code == 303
    assert "signed_out=1" in response.headers["Location"]
    assert "您已退出登录" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get("/console/").status_code == 302
    client.set_cookie("session", copied)
    assert client.get("/console/").status_code == 302
    assert _actions(worker.id)[-1] == "sign_out"


def test_a_new_password_ends_the_sessions_already_open(app, client, registry):
    worker = registry.workers[0]
    sign_in_as(client, worker)
    assert client.get("/console/").status_code == 200
    give_password(worker, "another-password-7")
    assert client.get("/console/").status_code == 302
    assert sign_in(client, worker.code, "another-password-7").status_code == 303


def test_staff_who_lose_their_roles_are_signed_out_at_the_next_click(client, registry):
    worker = registry.workers[0]
    sign_in_as(client, worker)
    db.session.execute(StaffAssignment.__table__.delete().where(StaffAssignment.person_id == worker.id))
    db.session.commit()
    assert client.get("/console/").status_code == 302


def test_sign_in_returns_to_the_console_page_asked_for_never_elsewhere(client, registry):
    give_password(registry.community_staff)
    first = client.get("/console/signs")
    assert first.headers["Location"] == "/console/login?next=/console/signs"
    assert "请先登录" in client.get(first.headers["Location"]).get_data(as_text=True)
    response = sign_in(client, registry.community_staff.code, next="/console/signs")
    assert response.headers["Location"] == "/console/signs"
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    response = sign_in(client, registry.community_staff.code, next="https://evil.example/")
    assert response.headers["Location"] == "/console/"


def test_a_bound_staff_member_is_one_person_in_the_api_and_the_console(client, registry):
    worker = registry.workers[0]
    give_password(worker)
    _row, code = bindings.issue_bind_code(worker.id)
    db.session.commit()
    phone = auth_headers(client, openid="wx-openid-zhangli")
    bound = client.post("/api/v1/auth/bind", json={"bind_code": code}, headers=phone)
    assert bound.status_code == 200, bound.get_json()
    assert bound.get_json()["id"] == worker.id
    assert sign_in(client, worker.code).status_code == 303
    assert client.get("/api/v1/work/tickets", headers=phone).status_code == 200
    assert "张丽" in client.get("/console/").get_data(as_text=True)


def test_console_errors_are_pages_with_the_menu_never_json(client, registry):
    sign_in_as(client, registry.workers[0])
    for path, status in (("/console/no-such-page", 404), ("/console/notifications", 403),
                         ("/console/tickets/nope", 404), ("/console/?cursor=garbage!!", 400)):
        response = client.get(path, headers={"Accept": "application/json"})
        assert response.status_code == status, path
        assert response.mimetype == "text/html", path
        page = response.get_data(as_text=True)
        assert 'id="sign-out"' in page and 'aria-label="工作台菜单"' in page, path
        assert "返回工作台" in page


def test_a_server_error_in_the_console_is_a_page_with_the_menu(app, client, registry, monkeypatch):
    from webapp.console import work as views

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "queue_page", broken)
    sign_in_as(client, registry.workers[0])
    response = client.get("/console/", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "服务器开小差了" in page and 'id="sign-out"' in page


def test_an_error_page_outside_the_console_has_no_console_menu(client, registry):
    response = client.get("/b/unknownCode")
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "网格工作台" not in page and "随手拍" in page
