"""/console/dashboard: the figures of the viewer's scope, as the API gives them; drill-down
links; "—" for a rate nothing was due for; the definitions; 404 outside the scope."""
from __future__ import annotations

import re

import pytest

from tests.console.helpers import sign_in_as
from tests.factories import session_headers
from tests.figures.seed import NOW, PERIOD, seed_month
from webapp.figures.definitions import DEFINITIONS


@pytest.fixture
def month(app_ctx, monkeypatch):
    from webapp.figures import compute

    monkeypatch.setattr(compute, "utcnow", lambda: NOW)
    return seed_month(tickets=70)


def _page(client, **query):
    response = client.get("/console/dashboard", query_string=query)
    return response, response.get_data(as_text=True)


def _text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert match, element_id
    return match.group(1)


def test_dashboard_needs_sign_in(client, month):
    response = client.get("/console/dashboard")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_dashboard_shows_the_figures_of_the_api(client, month):
    sign_in_as(client, month.street_staff)
    period = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
    response, page = _page(client, **period)
    assert response.status_code == 200
    api = client.get("/api/v1/work/stats", query_string=period, headers=session_headers(month.street_staff)).get_json()
    assert _text(page, "fig-tickets_in") == str(api["tickets_in"])
    assert _text(page, "fig-response_rate") == f"{api['response_rate'] * 100:.1f}%"
    assert _text(page, "fig-due_for_acceptance") == str(api["due_for_acceptance"])
    assert _text(page, "fig-rated") == str(api["rated"])
    assert _text(page, "fig-overdue_now") == str(api["overdue_now"])
    assert 'src="/static/vendor/echarts/echarts.min.js"' in page and "<script>" not in page
    for term, text in DEFINITIONS:
        assert text in page
    community = month.communities[0]
    assert f'href="/console/dashboard?from={period["from"]}&amp;to={period["to"]}&amp;community_id={community.id}"' in page
    assert "数据统计" in page  # the menu


def test_dashboard_drills_down_and_shows_a_dash_for_nothing_due(client, month):
    sign_in_as(client, month.street_staff)
    grid = month.grids[3]
    response, page = _page(client, grid_id=grid.id, **{"from": "2026-01-01", "to": "2026-01-08"})
    assert response.status_code == 200
    assert _text(page, "fig-tickets_in") == "0"
    assert _text(page, "fig-response_rate") == "—" and _text(page, "fig-satisfaction_rate") == "—"
    assert "和平社区" in page  # the path back up


def test_dashboard_refuses_a_place_outside_the_scope(client, month):
    sign_in_as(client, month.workers[0])
    response, _ = _page(client, community_id=month.communities[0].id)
    assert response.status_code == 404
    response, page = _page(client, **{"from": "2026-11-10", "to": "2026-11-01"})
    assert response.status_code == 400 and "开始日期应早于结束日期" in page
