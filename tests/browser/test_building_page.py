"""The phone web page behind a plain camera scan, as a phone's browser shows it."""
from __future__ import annotations

import os

import pytest

from tests.factories import make_registry


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def test_building_page_on_a_phone_screen(live_server, phone_page, registry, tmp_path):
    building = registry.buildings[0]
    phone_page.goto(f"{live_server}/b/{registry.codes[building.id]}")
    assert phone_page.title().startswith("1区1号楼")
    assert phone_page.locator("header h1").inner_text() == "1区1号楼"
    contacts = phone_page.locator("#contacts").inner_text()
    assert "张丽" in contacts and "138****5678" in contacts
    # Nothing overflows a 375 px wide screen.
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    phone_page.screenshot(path=str(tmp_path / "building.png"), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        phone_page.screenshot(path=os.path.join(os.environ["SCREENSHOT_DIR"], "building.png"), full_page=True)
    assert (tmp_path / "building.png").stat().st_size > 10_000


def test_revoked_code_page_says_so(live_server, phone_page, registry):
    from webapp.extensions import db
    from webapp.registry.codes import revoke_code

    building = registry.buildings[0]
    revoke_code(building.id)
    db.session.commit()
    response = phone_page.goto(f"{live_server}/b/{registry.codes[building.id]}")
    assert response.status == 410
    assert "已停用" in phone_page.inner_text("body")
