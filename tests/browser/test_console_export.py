"""Exports in Chromium: a community's staff member signs in with a password, filters the queue,
clicks 导出 Excel, and the file the browser saves holds the Chinese headers and exactly the
rows the filtered queue shows. Screenshots are saved under the test's tmp directory (and
SCREENSHOT_DIR if set) for a person to look at."""
from __future__ import annotations

import os
from pathlib import Path

import openpyxl
import pytest

from tests.console.helpers import PASSWORD, give_password
from tests.figures.seed import NOW, seed_month
from webapp.exports.queue import HEADERS

pytestmark = pytest.mark.browser


@pytest.fixture
def month(app_ctx, monkeypatch):
    from webapp.figures import compute

    monkeypatch.setattr(compute, "utcnow", lambda: NOW)
    month = seed_month(tickets=70)
    give_password(month.registry.community_staff)
    return month


def _save(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOT_DIR"]) / name), full_page=True)
    assert (tmp_path / name).stat().st_size > 5_000


def test_the_excel_export_holds_the_filtered_queue(browser, live_server, month, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/console/login")
        page.fill("#username", month.registry.community_staff.code)
        page.fill("#password", PASSWORD)
        page.click("#sign-in-button")
        page.wait_for_url(f"{live_server}/console/")
        page.select_option("#filter-category", "light")
        page.select_option("#filter-kind", "report")
        page.click("#filter-submit")
        page.wait_for_url("**category=light**")
        shown = [n.strip() for n in page.locator("#queue-table a.number").all_inner_texts()]
        assert shown, "the filtered queue is empty"
        with page.expect_download() as download_info:
            page.click("#export-xlsx")
        download = download_info.value
        assert download.suggested_filename.endswith(".xlsx") and download.suggested_filename.startswith("工单导出")
        target = tmp_path / "export.xlsx"
        download.save_as(str(target))
        rows = list(openpyxl.load_workbook(target, read_only=True).worksheets[0].iter_rows(values_only=True))
        assert list(rows[0]) == HEADERS
        assert [row[0] for row in rows[1:]] == shown
        category, kind = HEADERS.index("类别"), HEADERS.index("类型")
        assert {row[category] for row in rows[1:]} == {"楼道照明"} and {row[kind] for row in rows[1:]} == {"随手拍"}
        _save(page, tmp_path, "console-export-queue.png")
    finally:
        context.close()
