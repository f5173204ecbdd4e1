"""GET /api/v1/work/stats as a door: who may ask (401, 403), which places (404 outside the
caller's scope), the period and kind it takes (422 in Chinese), its OpenAPI entry. The figures
themselves are checked against the events in tests/figures/test_figures.py."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.factories import make_person, make_registry, session_headers
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import Community, Grid, Street

FIELDS = {
    "scope", "period", "tickets_in", "accepted_on_time", "due_for_acceptance", "response_rate",
    "resolved_on_time", "due_for_resolution", "on_time_closure_rate", "rated", "satisfied",
    "satisfaction_rate", "overdue_now", "avg_hours_to_close", "median_hours_to_close",
    "by_category", "by_child", "weekly", "hotspots",
}


@pytest.fixture
def world(app_ctx):
    registry = make_registry()
    other_street = Street(code="HP", name="和平街道", ticket_prefix="HP")
    other = Community(code="HP-01", name="和平社区", street=other_street)
    other_grid = Grid(code="HP-01-G1", name="第1网格", community=other)
    street_staff = make_person("孙街道", "13633334444", code="P-SJD")
    db.session.add_all([other_street, other, other_grid])
    db.session.add(StaffAssignment(person=street_staff, role=Role.STREET_STAFF, street=registry.street))
    db.session.commit()
    return {"registry": registry, "other": other, "other_grid": other_grid, "street_staff": street_staff}


def _get(client, person, **query):
    headers = session_headers(person) if person is not None else {}
    return client.get("/api/v1/work/stats", query_string=query, headers=headers)


def test_stats_needs_a_token(client, world):
    response = _get(client, None)
    assert response.status_code == 401


def test_stats_residents_are_refused(client, world):
    resident = make_person("吴民", "13500006666")
    db.session.commit()
    response = _get(client, resident)
    assert response.status_code == 403
    assert response.get_json()["code"] == "staff_only"


def test_stats_default_is_this_month_of_the_callers_own_scope(client, world):
    body = _get(client, world["registry"].workers[0]).get_json()
    assert FIELDS <= set(body)
    assert body["scope"]["level"] == "grid" and body["scope"]["id"] == world["registry"].grids[0].id
    start, end = date.fromisoformat(body["period"]["from"]), date.fromisoformat(body["period"]["to"])
    assert start.day == 1 and (end - timedelta(days=1)).month == start.month
    assert body["tickets_in"] == 0
    assert body["response_rate"] is None and body["on_time_closure_rate"] is None and body["satisfaction_rate"] is None


def test_stats_street_staff_drill_down_to_a_community_and_a_grid(client, world):
    registry = world["registry"]
    body = _get(client, world["street_staff"]).get_json()
    assert body["scope"] == {"level": "street", "id": registry.street.id, "name": "凤凰街道"}
    assert [c["id"] for c in body["by_child"]] == [registry.community.id]
    assert all({"id", "name", "level", "response_rate", "tickets_in"} <= set(c) for c in body["by_child"])
    body = _get(client, world["street_staff"], community_id=registry.community.id).get_json()
    assert body["scope"]["level"] == "community"
    assert [g["id"] for g in body["by_child"]] == [g.id for g in registry.grids]
    assert [p["level"] for p in body["path"]] == ["street"]


@pytest.mark.parametrize("place", ["community", "grid", "street", "missing"])
def test_stats_a_place_outside_the_callers_scope_is_not_found(client, world, place):
    registry = world["registry"]
    query = {
        "community": {"community_id": world["other"].id},
        "grid": {"grid_id": world["other_grid"].id},
        "street": {"street_id": world["other"].street_id},
        "missing": {"grid_id": 999999},
    }[place]
    response = _get(client, world["street_staff"], **query)
    assert response.status_code == 404
    # a grid worker may not open their own community either (more than their scope)
    response = _get(client, registry.workers[0], community_id=registry.community.id)
    assert response.status_code == 404
    response = _get(client, registry.workers[0], grid_id=registry.grids[1].id)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query,field,message",
    [
        ({"from": "2026-13-01"}, "from", "日期格式应为 YYYY-MM-DD"),
        ({"to": "2026/11/01"}, "to", "日期格式应为 YYYY-MM-DD"),
        ({"from": "2026-11-10", "to": "2026-11-10"}, "from", "开始日期应早于结束日期"),
        ({"from": "2025-01-01", "to": "2026-11-10"}, "to", "统计期间最长366天"),
        ({"kind": "other"}, "kind", "类型只能是随手拍（report）或心语心愿（wish）"),
        ({"grid_id": "abc"}, "grid_id", None),
        ({"grid_id": "1", "community_id": "1"}, "grid_id", "街道、社区、网格只能选择一个"),
    ],
)
def test_stats_validation_errors_are_in_chinese(client, world, query, field, message):
    response = _get(client, world["street_staff"], **query)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    found = errors.get("query", errors).get(field) or errors.get(field)
    assert found, errors
    if message:
        assert message in found
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in found)


def test_stats_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").get_json()
    get = spec["paths"]["/api/v1/work/stats"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"from", "to", "kind", "grid_id", "community_id", "street_id"} <= names
    assert {"401", "403", "404", "422"} <= set(get["responses"])
    schema = spec["components"]["schemas"]["Stats"]
    assert FIELDS <= set(schema["properties"])
    assert "响应率" in schema["properties"]["response_rate"]["description"]
    assert schema["properties"]["response_rate"].get("nullable") or "null" in str(schema["properties"]["response_rate"].get("type"))
