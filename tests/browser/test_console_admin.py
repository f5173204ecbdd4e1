"""The admin's console in Chromium: approve a rider, reset a worker's password (the worker then
signs in with it), deactivate a worker; each page also at 375 px without sideways scrolling.
Each test saves a screenshot of its last page (SCREENSHOT_DIR keeps a copy)."""
from __future__ import annotations

import os

import pytest

from tests.factories import make_person, make_registry
from webapp.extensions import db
from webapp.people import passwords, riders
from webapp.people.actors import load_actor
from webapp.people.models import Role, StaffAssignment

PASSWORD = "correct-horse-42"


@pytest.fixture
def registry(app_ctx):
    registry = make_registry()
    admin = make_person("刘洋", code="P001")
    db.session.add(StaffAssignment(person=admin, role=Role.ADMIN))
    db.session.flush()
    passwords.set_password("P001", PASSWORD)
    db.session.commit()
    return registry


def _page(browser, width: int):
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.policy_violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.policy_violations.append(m.text))
    return context, page


@pytest.fixture
def desk(browser):
    context, page = _page(browser, 1280)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = _page(browser, 375)
    yield page
    context.close()


def _sign_in(page, base, username, password=PASSWORD):
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#sign-in-button")
    page.wait_for_url(f"{base}/console/")


def _screenshot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], name), full_page=True)
    assert (tmp_path / name).stat().st_size > 5_000


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def test_admin_approves_a_pending_rider(live_server, desk, registry, tmp_path):
    invite = riders.issue_invite(registry.community.id)
    rider_person = make_person("赵骑手", openid="browser-rider")
    riders.enroll(load_actor(rider_person.id), invite.code, "赵骑手", "美团")
    db.session.commit()
    page = desk
    _sign_in(page, live_server, "P001")
    page.click("nav.console >> text=骑手")
    page.wait_for_url(f"{live_server}/console/riders")
    assert "赵骑手" in page.inner_text("#pending-riders")
    page.click(f"#rider-{rider_person.id} button.approve")
    page.wait_for_url(f"{live_server}/console/riders?done=approved")
    assert "已通过审核" in page.inner_text("#done-notice")
    assert "没有待审核的骑手" in page.inner_text("#pending-riders")
    assert "已通过" in page.inner_text(f"#riders #rider-{rider_person.id}")
    assert page.policy_violations == []
    _screenshot(page, tmp_path, "console-riders-approved.png")


def test_admin_resets_a_workers_password_and_the_worker_signs_in_with_it(live_server, browser, desk, registry, tmp_path):
    worker = registry.workers[0]
    passwords.set_password(worker.code, "old-password-77")
    db.session.commit()
    page = desk
    _sign_in(page, live_server, "P001")
    page.goto(f"{live_server}/console/staff")
    page.click(f"#staff-{worker.code} >> text=管理")
    page.click("#reset-password")
    password = page.inner_text("#new-password").strip()
    assert len(password) == passwords.GENERATED_LENGTH
    assert "只显示这一次" in page.inner_text("#password-once")
    page.click("#back-to-person")
    assert password not in page.content()  # shown once, never again

    context, worker_page = _page(browser, 375)
    try:
        worker_page.goto(f"{live_server}/console/login")
        worker_page.fill("#username", worker.code)
        worker_page.fill("#password", "old-password-77")
        worker_page.click("#sign-in-button")
        assert worker_page.inner_text("#sign-in-error") == "用户名或密码错误"
        worker_page.fill("#password", password)
        worker_page.click("#sign-in-button")
        worker_page.wait_for_url(f"{live_server}/console/")
        assert worker_page.inner_text("#signed-in-as") == "张丽"
        # A grid worker: no wish box, no accounts in the menu; the accounts page is 403.
        menu = worker_page.inner_text("nav.console")
        assert "心语心愿" not in menu and "人员账号" not in menu
        response = worker_page.goto(f"{live_server}/console/staff")
        assert response.status == 403
        _no_sideways_scroll(worker_page)
        _screenshot(worker_page, tmp_path, "console-worker-403-375.png")
    finally:
        context.close()
    _screenshot(page, tmp_path, "console-password-reset.png")


def test_admin_deactivates_a_worker(live_server, desk, phone, registry, tmp_path):
    worker = registry.workers[1]
    page = desk
    _sign_in(page, live_server, "P001")
    page.goto(f"{live_server}/console/staff/{worker.id}")
    page.click("#deactivate")
    assert "确认停用：王强" in page.inner_text("#deactivate-confirm")
    page.click("#confirm-deactivate")
    page.wait_for_url(f"{live_server}/console/staff/{worker.id}?done=left")
    assert "离岗" in page.inner_text("#person-status")
    assert "已停用该账号" in page.inner_text("#done-notice")
    page.goto(f"{live_server}/console/staff")
    assert "离岗" in page.inner_text(f"#staff-{worker.code}")
    assert page.policy_violations == []
    _screenshot(page, tmp_path, "console-staff-after-deactivation.png")

    # The same pages at 375 px: no sideways scrolling.
    _sign_in(phone, live_server, "P001")
    for path in ("/console/staff", f"/console/staff/{registry.workers[0].id}", "/console/staff/new",
                 "/console/riders", "/console/wishes"):
        phone.goto(f"{live_server}{path}")
        _no_sideways_scroll(phone)
    phone.goto(f"{live_server}/console/staff")
    _screenshot(phone, tmp_path, "console-staff-375.png")
