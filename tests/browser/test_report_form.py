"""The report form of the phone web page, filled in on a phone-sized headless Chromium."""
from __future__ import annotations

import os
import re

import pytest

from tests.factories import jpeg_bytes, make_registry
from webapp.extensions import db
from webapp.tickets.models import Ticket, TicketStatus


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _screenshot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], name), full_page=True)
    assert (tmp_path / name).stat().st_size > 10_000


def _no_horizontal_overflow(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_report_from_a_phone_lands_on_the_follow_page(live_server, phone_page, registry, tmp_path):
    code = registry.codes[registry.buildings[0].id]
    phone_page.goto(f"{live_server}/b/{code}")
    _no_horizontal_overflow(phone_page)

    # Too short a text is caught before anything is sent (the photos would be lost).
    phone_page.select_option("#category-report", "light")
    phone_page.fill("#description", "灯坏")
    phone_page.click("#submit-button")
    assert "问题描述需要5到500个字" in phone_page.inner_text("#report")
    assert phone_page.url.endswith(f"/b/{code}")

    phone_page.fill("#description", "2单元3楼楼道灯不亮已经一周了，晚上上下楼很危险")
    assert phone_page.inner_text("#description-count") == "24"
    phone_page.select_option("#unit", "2单元")
    phone_page.set_input_files(
        "#photos", files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes((640, 480))}]
    )
    phone_page.wait_for_selector("#thumbs img")
    assert "已选择1张照片" in phone_page.inner_text("#photo-count")
    # A photo taken with the camera joins the chosen ones; a tap on × takes one out again.
    phone_page.set_input_files(
        "#photos-camera", files=[{"name": "camera.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes((320, 240), (0, 90, 200))}]
    )
    assert "已选择2张照片" in phone_page.inner_text("#photo-count")
    assert phone_page.locator("#thumbs img").count() == 2
    phone_page.screenshot(path=str(tmp_path / "two.png"))
    phone_page.click("#thumbs .thumb:nth-child(2) .remove")
    assert "已选择1张照片" in phone_page.inner_text("#photo-count")
    phone_page.fill("#contact-phone", "13800138000")
    # Every control is big enough to hit with a thumb.
    for selector in ("#category-report", "#unit", "#contact-phone", "#submit-button", "label[for=kind-wish]",
                     ".photo-pick >> nth=0", ".photo-pick >> nth=1"):
        assert phone_page.locator(selector).bounding_box()["height"] >= 44, selector
    _no_horizontal_overflow(phone_page)
    _screenshot(phone_page, tmp_path, "report_form.png")

    phone_page.click("#submit-button")
    phone_page.wait_for_url(re.compile(r"/t/[^/]+/[^/?]+\?new=1$"))
    db.session.expire_all()
    [ticket] = db.session.query(Ticket).all()
    assert ticket.status is TicketStatus.DISPATCHED
    assert len(ticket.photo_ids) == 1  # the one left after the ×
    assert phone_page.title().startswith(ticket.number)
    assert phone_page.inner_text("#number") == ticket.number
    assert phone_page.inner_text("#status") == "已派单"
    assert "网格员 张丽" in phone_page.inner_text("#assignee")
    assert "请保存此链接以便查看处理进度" in phone_page.inner_text("#save-link")
    # The reporter's photo is shown through the private link.
    image = phone_page.locator("#summary .photos img").first
    image.wait_for()
    assert phone_page.evaluate("(img) => img.complete && img.naturalWidth", image.element_handle()) == 640
    cookies = {c["name"]: c for c in phone_page.context.cookies()}
    assert cookies["gr_guest"]["httpOnly"] and cookies["gr_guest"]["sameSite"] == "Lax"
    _no_horizontal_overflow(phone_page)
    _screenshot(phone_page, tmp_path, "follow.png")


def test_wish_switch_works_without_script(live_server, browser, registry, tmp_path):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, locale="zh-CN", java_script_enabled=False
    )
    page = context.new_page()
    try:
        code = registry.codes[registry.buildings[0].id]
        page.goto(f"{live_server}/b/{code}")
        assert page.is_visible("#category-report") and not page.is_visible("#category-wish")
        assert not page.is_visible("input[name=anonymous]")
        page.click("label[for=kind-wish]")
        assert page.is_visible("#category-wish") and not page.is_visible("#category-report")
        page.select_option("#category-wish", "wish")
        page.fill("#description", "希望小区里多安装几个休息座椅")
        page.check("input[name=anonymous]")
        _screenshot(page, tmp_path, "wish_form.png")
        page.click("#submit-button")
        page.wait_for_url(re.compile(r"/t/[^/]+/[^/?]+\?new=1$"))
        assert "提交成功" in page.inner_text("#created")
        assert "心语心愿" in page.inner_text("header")
        db.session.expire_all()
        [ticket] = db.session.query(Ticket).all()
        assert ticket.is_anonymous and ticket.reporter_id is None
    finally:
        context.close()


def test_server_errors_come_back_next_to_the_fields(live_server, browser, registry, tmp_path):
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, device_scale_factor=2, locale="zh-CN", java_script_enabled=False
    )
    page = context.new_page()
    try:
        code = registry.codes[registry.buildings[0].id]
        page.goto(f"{live_server}/b/{code}")
        page.fill("#description", "短")
        page.fill("#contact-phone", "123")
        page.click("#submit-button")
        page.wait_for_load_state()
        text = page.inner_text("#report")
        assert "请选择问题类别" in text and "问题描述需要5到500个字" in text and "请填写11位手机号码" in text
        assert page.input_value("#contact-phone") == "123"
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        _screenshot(page, tmp_path, "report_errors.png")
        assert db.session.query(Ticket).count() == 0
    finally:
        context.close()


def test_reporter_rates_the_fix_with_stars(live_server, phone_page, registry, tmp_path):
    import io

    from webapp.people.actors import load_actor
    from webapp.tickets import photos
    from webapp.tickets.state_machine import Action, ActionInput, transition

    code = registry.codes[registry.buildings[0].id]
    phone_page.goto(f"{live_server}/b/{code}")
    phone_page.select_option("#category-report", "light")
    phone_page.fill("#description", "2单元3楼楼道灯不亮已经一周了")
    phone_page.click("#submit-button")
    phone_page.wait_for_url(re.compile(r"\?new=1$"))
    follow_url = phone_page.url.split("?")[0]

    db.session.expire_all()
    [ticket] = db.session.query(Ticket).all()
    worker = load_actor(registry.workers[0].id)
    transition(ticket, Action.ACCEPT, worker)
    after = photos.store_upload(worker, io.BytesIO(jpeg_bytes((400, 300), (40, 160, 80))), "after.jpg")
    transition(ticket, Action.RESOLVE, worker, ActionInput(note="已更换楼道灯泡，经测试正常", photo_ids=[after.id]))
    db.session.commit()

    phone_page.goto(follow_url)
    assert phone_page.inner_text("#status") == "待评价"
    assert "已更换楼道灯泡" in phone_page.inner_text("#timeline")
    phone_page.locator("#timeline .photos img").first.wait_for()
    phone_page.click("label[for=star-4]")
    phone_page.fill("#comment-ok", "修得很快，谢谢")
    _no_horizontal_overflow(phone_page)
    _screenshot(phone_page, tmp_path, "feedback.png")
    phone_page.click("#feedback-resolved button[type=submit]")
    phone_page.wait_for_url(re.compile(r"\?done=1$"))
    assert phone_page.inner_text("#status") == "已办结"
    assert "感谢您的反馈" in phone_page.inner_text("#thanks")
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status is TicketStatus.CLOSED and ticket.rating == 4
    _screenshot(phone_page, tmp_path, "closed.png")
