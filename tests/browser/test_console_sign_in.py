"""The console in a desktop Chromium: sign in with a password, see the queue, sign out."""
from __future__ import annotations

import os

import pytest

from tests.factories import auth_headers, make_registry, submit
from webapp.extensions import db
from webapp.people import passwords

PASSWORD = "correct-horse-42"


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def desk_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    # Chromium reports what the Content-Security-Policy refused on the console ("Refused to …").
    page.policy_violations = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and page.policy_violations.append(message.text),
    )
    yield page
    context.close()


def _screenshot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], name), full_page=True)
    assert (tmp_path / name).stat().st_size > 5_000


def test_staff_sign_in_with_a_password_see_the_queue_and_sign_out(live_server, desk_page, registry, client, tmp_path):
    worker = registry.workers[0]
    passwords.set_password(worker.code, PASSWORD)
    db.session.commit()
    resident = auth_headers(client, openid="browser-resident")
    ticket = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    page = desk_page

    page.goto(f"{live_server}/console/")
    assert page.url.endswith("/console/login?next=/console/")
    assert "请先登录" in page.inner_text("#sign-in")
    page.fill("#username", worker.code)
    page.fill("#password", "wrong-password-1")
    page.click("#sign-in-button")
    assert page.inner_text("#sign-in-error") == "用户名或密码错误"

    page.fill("#password", PASSWORD)
    page.click("#sign-in-button")
    page.wait_for_url(f"{live_server}/console/")
    assert page.inner_text("#signed-in-as") == "张丽"
    assert ticket["number"] in page.inner_text("main")
    # The console's stylesheet applied under the policy: the header bar is red.
    assert page.evaluate("getComputedStyle(document.querySelector('header.bar')).backgroundColor") == "rgb(200, 16, 46)"
    _screenshot(page, tmp_path, "console-queue.png")

    page.click("#sign-out")
    page.wait_for_url(f"{live_server}/console/login?signed_out=1")
    assert "您已退出登录" in page.inner_text("#sign-in")
    page.goto(f"{live_server}/console/")
    assert "/console/login" in page.url
    page.goto(f"{live_server}/console/login?signed_out=1")
    _screenshot(page, tmp_path, "console-signed-out.png")
    assert page.policy_violations == []


def test_the_phone_page_runs_its_script_under_the_policy(live_server, desk_page, registry):
    page = desk_page
    page.goto(f"{live_server}/b/{registry.codes[registry.buildings[0].id]}")
    page.fill("#description", "楼道灯不亮")
    assert page.inner_text("#description-count") == "5"  # report-form.js counted
    assert "js" in page.get_attribute("#report-form", "class")
    assert page.policy_violations == []
