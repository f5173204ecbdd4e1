"""The queue's filters added with the console (reporter, q, grid_id, mine) through the API:
each page is what the whole scope's condition with the same filters gives, byte for byte, and
the filters are documented in the OpenAPI document."""
from __future__ import annotations

import pytest

from tests.api.test_work_queue_fast import _walk, queue  # noqa: F401 - the fixture
from webapp.extensions import db
from webapp.tickets.models import Ticket


@pytest.fixture
def riders(queue):  # noqa: F811
    """Every fifth ticket is a rider's report."""
    for n, ticket in enumerate(db.session.scalars(db.select(Ticket).order_by(Ticket.number))):
        ticket.is_rider_report = n % 5 == 0 and ticket.kind.value == "report"
    db.session.commit()
    return queue


FILTERS = [
    {"reporter": "rider"},
    {"reporter": "resident", "status": "closed"},
    {"q": "第1"},
    {"q": "jy-20261120-001"},
    {"q": "20261120-0042"},
    {"q": "%"},
    {"q": "没有这样的描述"},
    {"mine": True},
    {"mine": True, "status": "closed"},
    {"reporter": "rider", "q": "楼道", "overdue": False},
]


@pytest.mark.parametrize("who", ["worker_a", "community_staff", "wish_reader", "admin"])
def test_new_filters_equal_the_scope_condition(app, client, riders, who):
    person = riders.people[who]
    for filters in FILTERS:
        for limit in (3, 20):
            _walk(app, client, person, limit, **filters)


def test_the_filters_narrow_as_they_say(app, client, riders):
    admin = riders.people["admin"]
    everything = _walk(app, client, admin, 100, status="open")
    rider = _walk(app, client, admin, 100, status="open", reporter="rider")
    resident = _walk(app, client, admin, 100, status="open", reporter="resident")
    assert rider and resident and len(rider) + len(resident) == len(everything)
    by_number = _walk(app, client, admin, 100, q="jy-20261120-0004")
    assert [i["number"] for i in by_number] == ["JY-20261120-0004"]
    words = _walk(app, client, admin, 100, q="第12号")
    assert words and all("第12号" in i["description"] for i in words)
    grid = riders.registry.grids[0]
    in_grid = _walk(app, client, admin, 100, grid_id=grid.id)
    assert in_grid and all(i["building"]["grid"] == grid.name for i in in_grid)
    worker = riders.people["worker_a"]
    mine = _walk(app, client, worker, 100, mine=True)
    assert mine and all(i["assignee"]["name"] == worker.name for i in mine)


def test_bad_filters_are_422_and_documented(client, riders):
    from tests.factories import session_headers

    headers = session_headers(riders.people["admin"])
    assert client.get("/api/v1/work/tickets?reporter=robot", headers=headers).status_code == 422
    assert client.get("/api/v1/work/tickets?q=" + "字" * 41, headers=headers).status_code == 422
    spec = client.get("/api/openapi.json").get_json()
    names = {p["name"] for p in spec["paths"]["/api/v1/work/tickets"]["get"]["parameters"]}
    assert {"reporter", "q", "grid_id", "mine"} <= names
