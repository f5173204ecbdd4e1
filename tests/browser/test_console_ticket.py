"""The console's work pages in Chromium: staff sign in with a password, find a ticket in the
queue and act on it with the page's own forms; the reporter sees the result through the API.

CI runs this suite on SQLite and on PostgreSQL (TEST_DATABASE), so the production database is
covered by the same tests. Each test saves a screenshot of its last page (tmp_path, and
SCREENSHOT_DIR when set).
"""
from __future__ import annotations

import os

import pytest

from tests.factories import auth_headers, jpeg_bytes, make_person, make_registry, submit
from webapp.extensions import db
from webapp.people import passwords
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import ReplyTemplate

PASSWORD = "correct-horse-42"


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _context(browser, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.policy_violations = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and page.policy_violations.append(message.text),
    )
    return context, page


@pytest.fixture
def desk_page(browser):
    context, page = _context(browser, 1280, 800)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    context, page = _context(browser, 375, 812)
    yield page
    context.close()


def _screenshot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], name), full_page=True)
    assert (tmp_path / name).stat().st_size > 5_000


def _sign_in(page, live_server, person):
    passwords.set_password(person.code, PASSWORD)
    db.session.commit()
    page.goto(f"{live_server}/console/login")
    page.fill("#username", person.code)
    page.fill("#password", PASSWORD)
    page.click("#sign-in-button")
    page.wait_for_url(f"{live_server}/console/")
    assert page.inner_text("#signed-in-as") == person.name


def _no_sideways_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"


def test_grid_worker_accepts_and_resolves_with_an_after_photo(live_server, desk_page, registry, client, tmp_path):
    worker = registry.workers[0]
    resident = auth_headers(client, openid="browser-reporter")
    ticket = submit(client, resident, registry.codes[registry.buildings[0].id], contact_phone="13912345678").get_json()
    db.session.add(ReplyTemplate(category_id=registry.categories["light"].id, text="已更换楼道灯泡，照明恢复正常。"))
    db.session.commit()
    page = desk_page
    _sign_in(page, live_server, worker)

    # Find the new ticket by its number in the queue.
    page.fill("#filter-q", ticket["number"])
    page.click("#filter-submit")
    page.click(f"text={ticket['number']}")
    page.wait_for_url(f"{live_server}/console/tickets/{ticket['id']}")
    assert page.inner_text("#ticket-status") == "已派单"
    assert "139****5678" in page.inner_text("#phones")
    assert page.inner_text("#routing") == "派给本网格专职网格员"

    page.click("#do-accept")
    page.wait_for_selector("#action-done")
    assert page.inner_text("#action-done") == "已接单"
    assert page.inner_text("#ticket-status") == "处理中"

    photo = tmp_path / "after.jpg"
    photo.write_bytes(jpeg_bytes(size=(640, 480), color=(30, 140, 60)))
    page.click("#action-resolve summary")
    page.set_input_files("#resolve-photo", str(photo))
    page.select_option("#reply-template", label="已更换楼道灯泡，照明恢复正常。")
    assert page.input_value("#resolve-note") == "已更换楼道灯泡，照明恢复正常。"  # console-ticket.js
    page.click("#do-resolve")
    page.wait_for_selector("#action-done")
    assert page.inner_text("#ticket-status") == "待评价"
    assert page.locator("img.after-photo").count() == 1
    assert page.evaluate("document.querySelector('img.after-photo').naturalWidth") == 640

    # The reporter's view through the API changed: resolved, the after photo in the timeline.
    seen = client.get(f"/api/v1/tickets/{ticket['id']}", headers=resident).get_json()
    assert seen["status"] == "resolved"
    last = seen["timeline"][-1]
    assert last["action"] == "resolve" and last["note"] == "已更换楼道灯泡，照明恢复正常。"
    assert len(last["photo_ids"]) == 1
    image = client.get(f"/api/v1/photos/{last['photo_ids'][0]}", headers=resident)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    page.locator("#timeline").scroll_into_view_if_needed()
    _screenshot(page, tmp_path, "console-ticket-resolved.png")
    assert page.policy_violations == []


def test_community_staff_reassigns_to_a_person_picked_from_the_list(live_server, phone, registry, client, tmp_path):
    resident = auth_headers(client, openid="browser-reporter-2")
    ticket = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    page = phone
    _sign_in(page, live_server, registry.community_staff)
    _no_sideways_scroll(page)
    page.click(f"text={ticket['number']}")
    page.wait_for_url(f"{live_server}/console/tickets/{ticket['id']}")
    assert page.inner_text("#assignee") == "张丽（网格员）"

    page.click("#action-reassign summary")
    labels = page.locator("#reassign-target option").all_inner_texts()
    assert "王强 · 网格员 · 幸福社区第2网格" in labels
    page.select_option("#reassign-target", label="王强 · 网格员 · 幸福社区第2网格")
    page.select_option("#reassign-reason", label="工作量调配")
    page.click("#do-reassign")
    page.wait_for_selector("#action-done")
    assert page.inner_text("#action-done") == "已改派"
    assert page.inner_text("#assignee") == "王强（网格员）"
    assert "工作量调配" in page.inner_text("#timeline")
    _no_sideways_scroll(page)
    seen = client.get(f"/api/v1/tickets/{ticket['id']}", headers=resident).get_json()
    assert seen["assignee"]["name"] == "王强" and seen["status"] == "dispatched"
    _screenshot(page, tmp_path, "console-ticket-reassigned-375.png")
    assert page.policy_violations == []


def test_a_wish_reader_answers_a_wish(live_server, phone, registry, client, tmp_path):
    reader = make_person("孙悦", "13500003333", code="P-SY")
    db.session.add(StaffAssignment(person=reader, role=Role.WISH_READER, community=registry.community))
    db.session.commit()
    resident = auth_headers(client, openid="browser-wisher")
    wish = submit(
        client, resident, registry.codes[registry.buildings[0].id], kind="wish", category="wish",
        description="希望小区里能多装几个休息的长椅", anonymous=True,
    ).get_json()
    page = phone
    _sign_in(page, live_server, reader)
    page.select_option("#filter-kind", "wish")
    page.click("#filter-submit")
    page.click(f"text={wish['number']}")
    page.wait_for_url(f"{live_server}/console/tickets/{wish['id']}")
    if page.locator("#do-accept").count():
        page.click("#do-accept")
        page.wait_for_selector("#action-done")
    page.click("#action-resolve summary")
    page.fill("#resolve-note", "感谢您的建议，社区已申请在中心花园增设4张长椅，下月安装。")
    page.click("#do-resolve")
    page.wait_for_selector("#action-done")
    assert page.inner_text("#ticket-status") == "待评价"
    assert "下月安装" in page.inner_text("#timeline")
    _no_sideways_scroll(page)
    seen = client.get(f"/api/v1/tickets/{wish['id']}", headers=resident).get_json()
    assert seen["status"] == "resolved" and "下月安装" in seen["timeline"][-1]["note"]
    _screenshot(page, tmp_path, "console-wish-answered-375.png")
    assert page.policy_violations == []
