"""The dashboard in Chromium: the numbers on the page are the API's, the charts are drawn by the
vendored ECharts (no CSP error), and at 375 px nothing scrolls sideways. Screenshots are saved
under the test's tmp directory (and SCREENSHOT_DIR if set) for a person to look at."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.console.helpers import PASSWORD, give_password
from tests.factories import session_headers
from tests.figures.seed import NOW, PERIOD, seed_month

pytestmark = pytest.mark.browser
FIELDS = ["tickets_in", "accepted_on_time", "due_for_acceptance", "resolved_on_time", "due_for_resolution",
          "rated", "satisfied", "overdue_now"]
RATES = ["response_rate", "on_time_closure_rate", "satisfaction_rate"]


@pytest.fixture
def month(app_ctx, monkeypatch):
    from webapp.figures import compute

    monkeypatch.setattr(compute, "utcnow", lambda: NOW)
    month = seed_month()
    give_password(month.street_staff)
    return month


def _save(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["SCREENSHOT_DIR"]) / name), full_page=True)


@pytest.mark.parametrize("width", [375, 1280])
def test_dashboard_shows_the_numbers_of_the_api(browser, live_server, client, month, tmp_path, width):
    context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1, locale="zh-CN")
    page = context.new_page()
    problems = []
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and problems.append(m.text))
    page.on("response", lambda r: r.status >= 400 and not r.url.endswith("/favicon.ico") and problems.append(r.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server}/console/login")
    page.fill("#username", month.street_staff.code)
    page.fill("#password", PASSWORD)
    page.click("#sign-in-button")
    period = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
    page.goto(f"{live_server}/console/dashboard?from={period['from']}&to={period['to']}")
    page.wait_for_selector("#chart-weekly[data-drawn='1'] svg")
    page.wait_for_selector("#chart-categories[data-drawn='1'] svg")
    api = client.get("/api/v1/work/stats", query_string=period, headers=session_headers(month.street_staff)).get_json()
    for field in FIELDS:
        assert page.inner_text(f"#fig-{field}").strip() == str(api[field]), field
    for field in RATES:
        shown = page.inner_text(f"#fig-{field}").strip()
        assert shown == ("—" if api[field] is None else f"{api[field] * 100:.1f}%"), field
    assert page.inner_text("#fig-avg_hours_to_close").strip() == f"{api['avg_hours_to_close']:.1f} 小时"
    assert page.inner_text("#fig-median_hours_to_close").strip() == f"{api['median_hours_to_close']:.1f} 小时"
    rows = page.locator("#by-child tbody tr")
    assert rows.count() == len(api["by_child"])
    assert page.locator("#hotspots tbody tr").count() == len(api["hotspots"])
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    _save(page, tmp_path, f"dashboard-{width}.png")
    # drill down to the first community, then its first grid
    page.click("#by-child tbody tr:first-child a")
    page.wait_for_selector("#chart-weekly[data-drawn='1'] svg")
    assert page.inner_text("#scope-name") == month.communities[0].name
    page.click("#by-child tbody tr:first-child a")
    assert page.inner_text("#scope-name").endswith(month.grids[0].name)
    assert problems == []
    context.close()
