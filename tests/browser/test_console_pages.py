"""Every console page, as staff of each role see it on the demo data, at phone width (375 px):
no horizontal scrolling, and no English word on the page.

The demo is built into the test database by `flask demo setup` itself; each account signs in
with the demo password, then every page of its menu is opened, and a ticket and a wish from
the queue. Codes (P011, JY-20261129-0001, FH-01-G1-B01), addresses and file types are not
words; anything else of two or more Latin letters is.
"""
from __future__ import annotations

import re

import pytest

from tests.factories import auth_headers, jpeg_bytes, submit, upload_photo
from webapp.extensions import db
from webapp.registry.models import BuildingCode

DEMO_PASSWORD = "demo-password-375"
ACCOUNTS = {
    "P001": "管理员",
    "P002": "街道工作人员",
    "P003": "社区工作人员、心语心愿处理人",
    "P011": "网格员",
}
# Not words: file types and units staff know by these letters.
ALLOWED = {"PDF", "CSV", "XLSX", "Excel", "MB", "ID", "QR", "URL", "WebP", "JPEG", "PNG"}
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./:@#?=&%+-]*")


def english_words(text: str) -> list[str]:
    """The tokens of a page's text that are English words (see the module docstring)."""
    words = []
    for token in _TOKEN.findall(text):
        if any(ch.isdigit() for ch in token) or token.startswith("http") or "/" in token:
            continue  # a code, a number, an address
        for word in re.findall(r"[A-Za-z]{2,}", token):
            if word not in ALLOWED:
                words.append(word)
    return words


@pytest.fixture
def demo(app, app_ctx, runner, client, monkeypatch):
    monkeypatch.setitem(app.config, "DEMO_PASSWORD", DEMO_PASSWORD)
    result = runner.invoke(args=["demo", "setup"])
    assert result.exit_code == 0, result.output
    code = db.session.query(BuildingCode.code).filter(BuildingCode.revoked_at.is_(None)).first()[0]
    resident = auth_headers(client, openid="pages-resident")
    photo = upload_photo(client, resident, jpeg_bytes(color=(20, 120, 40)))
    report = submit(client, resident, code, photo_ids=[photo], contact_phone="13912345678")
    assert report.status_code == 201, report.get_json()
    wish = submit(client, resident, code, kind="wish", category=_wish_category(client, code),
                  description="希望小区里多放几张长椅", anonymous=True)
    assert wish.status_code == 201, wish.get_json()
    return {"report": report.get_json()["id"], "wish": wish.get_json()["id"]}


def _wish_category(client, code) -> str:
    scan = client.get(f"/api/v1/scan/{code}").get_json()
    return next(c["code"] for c in scan["categories"] if c["kind"] == "wish")


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("#sign-in-button")
    page.wait_for_url(f"{base}/console/")


def _check_page(page, url: str, problems: list[str]) -> None:
    response = page.goto(url)
    status = response.status if response else 0
    if status >= 500:
        problems.append(f"{url}: HTTP {status}")
        return
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 0:
        problems.append(f"{url}: scrolls sideways by {overflow}px at 375px")
    words = english_words(page.inner_text("body"))
    if words:
        problems.append(f"{url}: English on the page: {sorted(set(words))[:12]}")


@pytest.mark.parametrize("username", sorted(ACCOUNTS))
def test_every_console_page_fits_a_phone_and_speaks_chinese(
    live_server, phone_page, demo, username, tmp_path
):
    page = phone_page
    _sign_in(page, live_server, username)
    menu = page.eval_on_selector_all("nav.console a[href^='/console']", "links => links.map(a => a.getAttribute('href'))")
    assert "/console/" in menu
    problems: list[str] = []
    for path in dict.fromkeys(menu):
        _check_page(page, f"{live_server}{path}", problems)
    for ticket_id in demo.values():
        _check_page(page, f"{live_server}/console/tickets/{ticket_id}", problems)
    page.goto(f"{live_server}/console/")
    page.screenshot(path=str(tmp_path / f"console-375-{username}.png"), full_page=True)
    assert not problems, "\n".join(problems)


def test_the_english_word_finder_finds_words_and_passes_codes():
    assert english_words("状态 queued，角色 grid_worker") == ["queued", "grid", "worker"]
    assert english_words("工单 JY-20261129-0042 楼栋 FH-01-G1-B01 人员 P011 下载 PDF") == []
    assert english_words("https://grid.example.cn/b/0rT5jcJwV00Uy2j1 复制") == []
