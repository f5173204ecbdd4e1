"""The console's signs and import pages in Chromium at 375 px: an admin prints a street's signs
and watches the progress finish; an admin previews an import with bad rows. Screenshots are
saved (SCREENSHOT_DIR to keep them)."""
from __future__ import annotations

import os

import pytest

from tests.factories import make_person, make_registry
from tests.registry.test_importer import sheets_file
from webapp.extensions import db
from webapp.people import passwords
from webapp.people.models import Role, StaffAssignment

PASSWORD = "correct-horse-42"


@pytest.fixture
def admin(app_ctx, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_JOB_DIR", str(tmp_path / "sign_jobs"))
    monkeypatch.setitem(app.config, "IMPORT_UPLOAD_DIR", str(tmp_path / "imports"))
    monkeypatch.setitem(app.config, "REDIS_URL", "")
    make_registry(buildings_per_grid=6)
    person = make_person("刘洋", "13900000001", code="P001")
    db.session.add(StaffAssignment(person=person, role=Role.ADMIN))
    db.session.commit()
    passwords.set_password("P001", PASSWORD)
    db.session.commit()
    return person


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, locale="zh-CN")
    page = context.new_page()
    page.policy_violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.policy_violations.append(m.text))
    yield page
    context.close()


def _sign_in(page, live_server):
    page.goto(f"{live_server}/console/login")
    page.fill("#username", "P001")
    page.fill("#password", PASSWORD)
    page.click("#sign-in-button")
    page.wait_for_url(f"{live_server}/console/")


def _screenshot(page, tmp_path, name):
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], name), full_page=True)
    assert (tmp_path / name).stat().st_size > 5_000


def _no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_admin_prints_a_street_and_waits_for_the_progress(live_server, phone, admin, tmp_path):
    page = phone
    _sign_in(page, live_server)
    page.goto(f"{live_server}/console/signs")
    _no_horizontal_scroll(page)
    page.click("#print-street-FL")
    page.wait_for_selector("#sign-job-download:not([hidden])", timeout=30_000)  # console-signs.js polled
    assert page.inner_text("#sign-job-status") == "已完成"
    assert page.inner_text("#sign-job-count") == "12/12"
    assert page.evaluate("document.getElementById('sign-job-progress').value") == 12
    with page.expect_download() as download:
        page.click("#sign-job-download-link")
    assert download.value.suggested_filename == "公示牌-FL.pdf"
    _no_horizontal_scroll(page)
    _screenshot(page, tmp_path, "console-signs-job.png")
    assert page.policy_violations == []


def test_admin_previews_an_import_with_bad_rows(live_server, phone, admin, tmp_path):
    def spoil(sheets):
        sheets["网格"][1][4] = ("FH-02-G2", "阳光花园网格", "FH-09", "P014", "P014")
        communities = sheets["社区"][1]
        communities[0] = communities[0][:3] + ("8211001",)

    path = sheets_file(tmp_path, spoil)
    page = phone
    _sign_in(page, live_server)
    page.goto(f"{live_server}/console/imports")
    page.set_input_files("#import-file", str(path))
    page.click("#import-preview-button")
    page.wait_for_selector("#import-bad-rows")
    text = page.inner_text("#import-bad-rows")
    assert "第6行：社区编码 FH-09 不存在" in text and "办公电话 8211001 不是有效的电话号码" in text
    assert page.locator("#import-apply").count() == 0
    _no_horizontal_scroll(page)
    _screenshot(page, tmp_path, "console-import-preview.png")
    assert page.policy_violations == []
