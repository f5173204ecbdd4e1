"""Patrol check-ins (一日双巡) and the buildings of a grid nobody visited today."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.factories import auth_headers, make_registry
from webapp.columns import utcnow
from webapp.extensions import db
from webapp.patrols import checkins
from webapp.patrols.models import Patrol
from webapp.people.actors import load_actor
from webapp.registry.codes import revoke_code

SHANGHAI = checkins.SHANGHAI


@pytest.fixture
def registry(app_ctx):
    return make_registry(buildings_per_grid=3)


def check_in(client, headers, code):
    return client.post("/api/v1/work/patrols", json={"code": code}, headers=headers)


def test_patrol_check_in_returns_the_building_and_todays_count(client, registry):
    worker = auth_headers(client, registry.workers[0])
    building = registry.buildings[0]
    response = check_in(client, worker, registry.codes[building.id])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["building"] == {
        "id": building.id, "name": "1区1号楼", "address": "凤凰路101号", "community": "幸福社区",
        "grid": "第1网格",
    }
    assert body["checked_in_at"].endswith("+08:00")
    assert body["today_count"] == 1

    supervisor = auth_headers(client, registry.community_staff)
    again = check_in(client, supervisor, registry.codes[building.id])
    assert again.status_code == 201 and again.get_json()["today_count"] == 2


def test_patrol_repeat_scan_within_minutes_is_the_same_check_in(client, registry):
    worker = auth_headers(client, registry.workers[0])
    code = registry.codes[registry.buildings[0].id]
    first = check_in(client, worker, code).get_json()
    repeat = check_in(client, worker, code)
    assert repeat.status_code == 200
    assert repeat.get_json()["id"] == first["id"] and repeat.get_json()["today_count"] == 1


def test_patrol_refuses_residents_and_buildings_outside_the_scope(client, registry):
    resident = auth_headers(client, openid="resident-a")
    code = registry.codes[registry.buildings[0].id]
    assert check_in(client, resident, code).status_code == 403
    other_grid = registry.codes[registry.buildings[3].id]  # grid 2
    response = check_in(client, auth_headers(client, registry.workers[0]), other_grid)
    assert response.status_code == 404
    assert response.get_json()["code"] == "building_not_found"
    assert db.session.query(Patrol).count() == 0


def test_patrol_with_unknown_or_revoked_code(client, registry):
    worker = auth_headers(client, registry.workers[0])
    assert check_in(client, worker, "NoSuchCode123").status_code == 404
    building = registry.buildings[0]
    code = registry.codes[building.id]
    revoke_code(building.id)
    db.session.commit()
    response = check_in(client, worker, code)
    assert response.status_code == 410
    assert response.get_json()["code"] == "code_revoked"


def test_unvisited_lists_the_grids_buildings_not_checked_in_today(client, registry):
    worker = auth_headers(client, registry.workers[0])
    grid = registry.grids[0]
    first, second, third = registry.buildings[:3]
    db.session.add(  # yesterday's round does not count for today
        Patrol(person_id=registry.workers[0].id, building_id=second.id, grid_id=grid.id,
               checked_in_at=utcnow() - timedelta(days=1, hours=1))
    )
    db.session.commit()
    assert check_in(client, worker, registry.codes[first.id]).status_code == 201

    page = client.get(f"/api/v1/work/patrols/unvisited?grid_id={grid.id}&limit=1", headers=worker)
    assert page.status_code == 200, page.get_json()
    body = page.get_json()
    assert [b["id"] for b in body["items"]] == [second.id]
    assert body["items"][0]["last_checked_in_at"].endswith("+08:00")
    assert body["next_cursor"]
    rest = client.get(
        f"/api/v1/work/patrols/unvisited?grid_id={grid.id}&limit=1&cursor={body['next_cursor']}",
        headers=worker,
    ).get_json()
    assert [b["id"] for b in rest["items"]] == [third.id]
    assert rest["items"][0]["last_checked_in_at"] is None
    assert rest["next_cursor"] is None
    # Without grid_id: the worker's own (only) grid.
    own = client.get("/api/v1/work/patrols/unvisited", headers=worker).get_json()
    assert [b["id"] for b in own["items"]] == [second.id, third.id]


def test_unvisited_refuses_other_grids_and_residents(client, registry):
    worker = auth_headers(client, registry.workers[0])
    other = registry.grids[1]
    assert client.get(f"/api/v1/work/patrols/unvisited?grid_id={other.id}", headers=worker).status_code == 404
    supervisor = auth_headers(client, registry.community_staff)
    assert client.get(f"/api/v1/work/patrols/unvisited?grid_id={other.id}", headers=supervisor).status_code == 200
    assert client.get("/api/v1/work/patrols/unvisited", headers=supervisor).status_code == 422
    resident = auth_headers(client, openid="resident-a")
    assert client.get(f"/api/v1/work/patrols/unvisited?grid_id={other.id}", headers=resident).status_code == 403
    assert client.get("/api/v1/work/patrols/unvisited?cursor=%%%", headers=worker).status_code == 422


def test_unvisited_day_is_the_shanghai_day(registry):
    grid = registry.grids[0]
    building = registry.buildings[0]
    # 23:50 on the 22nd in Shanghai is 15:50 UTC: the 23rd's list still shows the building.
    db.session.add(Patrol(person_id=registry.workers[0].id, building_id=building.id, grid_id=grid.id,
                          checked_in_at=datetime(2026, 11, 22, 23, 50, tzinfo=SHANGHAI)))
    db.session.flush()
    actor = load_actor(registry.workers[0].id)
    query = checkins.unvisited_buildings_query(actor, grid.id, now=datetime(2026, 11, 23, 0, 10, tzinfo=SHANGHAI))
    assert building.id in [b.id for b, _ in db.session.execute(query)]
    query = checkins.unvisited_buildings_query(actor, grid.id, now=datetime(2026, 11, 22, 23, 59, tzinfo=SHANGHAI))
    assert building.id not in [b.id for b, _ in db.session.execute(query)]
