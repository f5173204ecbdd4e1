"""Schemathesis against GET /api/openapi.json, in process (WSGI), signed in as a resident and as
a grid worker: no operation answers 500, and every answer matches the document (status code,
content type, body schema).

Deterministic and bounded: hypothesis derandomized (the same cases on every run), EXAMPLES cases
per operation and generation mode (valid and invalid input), no shrinking, no example database.
The operations that end the session the run signs in with (LEFT_OUT: logout, the deletion
request) are not called; the test checks the session lived to the end.

A 5xx fails the run unless the operation documents that status with the error shape and the
body names an expected outage (DOCUMENTED_OUTAGES: WeChat has no credentials in the tests).

Random ids only ever meet 404s, so part of every operation's cases carry real values of the
registry below (codes, categories, tickets of the worker's grid in every status, photos, staff
ids): the worker then really accepts, resolves, returns and rejects tickets, the resident
submits, follows and rates them.
"""
from __future__ import annotations

import base64
import json
import time
from collections import Counter, defaultdict

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import auth_headers, make_registry, submit, upload_photo

# Cases per operation and generation mode (positive, negative), per signed-in role.
EXAMPLES = 20
# Operations the run must not call: they end the very session the run is signed in with
# (logout; a resident's deletion request). The test checks the session lived to the end.
LEFT_OUT = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/me")}
# What each role must have really done (a 2xx) during its run: the fuzzing reached past the
# 404s of random ids into the work of the role.
REACHED = {
    "resident": {"POST /api/v1/tickets", "GET /api/v1/tickets/{ticket_id}",
                 "POST /api/v1/tickets/{ticket_id}/feedback", "POST /api/v1/uploads"},
    "grid_worker": {"POST /api/v1/tickets/{ticket_id}/actions", "GET /api/v1/work/tickets",
                    "GET /api/v1/work/staff", "POST /api/v1/work/patrols"},
}
# Server errors an operation may answer when it documents them: WeChat has no credentials in
# the tests, so an operation that must call it answers 503 wechat_not_configured.
DOCUMENTED_OUTAGES = {"wechat_not_configured"}


class World:
    """A registry with tickets of the first grid in every status, reported by the resident and
    held by the first grid worker; photos of both."""

    def __init__(self, client):
        self.client = client
        self.registry = make_registry()
        self.worker = self.registry.workers[0]
        self.codes = [self.registry.codes[b.id] for b in self.registry.buildings]
        home = self.codes[0]
        self.headers = {
            "resident": auth_headers(client, openid="fuzz-resident"),
            "grid_worker": auth_headers(client, self.worker),
        }
        resident, worker = self.headers["resident"], self.headers["grid_worker"]
        self.photo_ids = [upload_photo(client, resident), upload_photo(client, worker)]
        self.ticket_ids = []
        for index in range(12):
            created = submit(client, resident, home, description=f"楼道灯坏了，第{index}次反映")
            assert created.status_code == 201, created.get_json()
            self.ticket_ids.append(created.get_json()["id"])
        wish = submit(client, resident, home, kind="wish", category="wish", description="希望小区增加健身器材")
        self.ticket_ids.append(wish.get_json()["id"])
        # dispatched (0-3), accepted (4-5), resolved (6-7), closed (8), rejected (9), merged (10)
        for ticket_id in self.ticket_ids[4:9]:
            self._act(ticket_id, {"action": "accept"})
        for ticket_id in self.ticket_ids[6:9]:
            self._act(ticket_id, {"action": "resolve", "note": "已更换灯泡",
                                  "photo_ids": [upload_photo(client, worker)]})
        self._feedback(self.ticket_ids[8], {"resolved": True, "rating": 5})
        self._act(self.ticket_ids[9], {"action": "reject", "reason": "invalid"})
        self._act(self.ticket_ids[10], {"action": "merge", "reason": "duplicate",
                                        "target": self.ticket_ids[0]})
        self.staff_ids = [p.id for p in (*self.registry.workers, self.registry.professional,
                                         self.registry.community_staff)]
        self.categories = list(self.registry.categories)
        self.grid_ids = [grid.id for grid in self.registry.grids]

    def _act(self, ticket_id, body):
        response = self.client.post(f"/api/v1/tickets/{ticket_id}/actions", json=body,
                                    headers=self.headers["grid_worker"])
        assert response.status_code == 200, response.get_json()

    def _feedback(self, ticket_id, body):
        response = self.client.post(f"/api/v1/tickets/{ticket_id}/feedback", json=body,
                                    headers=self.headers["resident"])
        assert response.status_code == 200, response.get_json()

    def real_values(self) -> dict[str, st.SearchStrategy]:
        """The values a field of each name takes when a case is made realistic."""
        return {
            "ticket_id": st.sampled_from(self.ticket_ids),
            "code": st.sampled_from(self.codes),
            "photo_id": st.sampled_from(self.photo_ids),
            "category": st.sampled_from(self.categories),
            "person_id": st.sampled_from(self.staff_ids),
            "photo_ids": st.lists(st.sampled_from(self.photo_ids), max_size=2, unique=True),
            "target": st.sampled_from(self.staff_ids + self.ticket_ids),
            "grid_id": st.sampled_from(self.grid_ids),
            "kind": st.sampled_from(["report", "wish"]),
            "description": st.sampled_from(["楼道灯坏了一周，晚上很黑", "消防通道被电动车堵住了"]),
            "unit": st.sampled_from(["1单元", "2单元"]),
        }


@pytest.fixture
def world(app_ctx, client):
    return World(client)


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def _realistic(operation, mode: GenerationMode, real: dict[str, st.SearchStrategy]):
    """The operation's cases; three in four have their known fields set to real values."""

    @st.composite
    def cases(draw):
        case = draw(operation.as_strategy(generation_mode=mode))
        # Drawn so that the simplest choice (what a derandomized run draws most) is the real value.
        if draw(st.integers(0, 3)) == 3:
            return case
        for container in (case.path_parameters, case.query, case.body):
            if not isinstance(container, dict):
                continue
            for name in list(container):
                if name in real and not draw(st.booleans()):
                    container[name] = draw(real[name])
        return case

    return cases()


def _documented_outage(case, response) -> bool:
    """A 5xx the operation documents by its own status code, with the error shape as its body
    (so the body is checked too), saying it is one of DOCUMENTED_OUTAGES. The catch-all
    "default" response does not count."""
    documented = case.operation.definition.raw.get("responses", {}).get(str(response.status_code))
    if not documented or "application/json" not in documented.get("content", {}):
        return False
    try:
        return response.json().get("code") in DOCUMENTED_OUTAGES
    except ValueError:
        return False


def _fuzz(operation, mode, real, headers, seen, failures):
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is listed below
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_realistic(operation, mode, real))
    def run(case):
        response = case.call(headers=headers)
        seen[operation.label][response.status_code] += 1
        checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
        if not _documented_outage(case, response):
            checks.append(not_a_server_error)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except AssertionError as failure:  # schemathesis' FailureGroup
            failures[operation.label].append(str(failure)[:2000])

    try:
        run()
    except Unsatisfiable:
        # Only where no input can be invalid (a path's string, no query or body): nothing to send.
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.mark.parametrize("role", ["resident", "grid_worker"])
def test_every_operation_answers_as_documented_and_never_500(app, world, api_schema, role):
    headers = world.headers[role]
    real = world.real_values()
    seen: dict[str, Counter] = defaultdict(Counter)
    failures: dict[str, list[str]] = defaultdict(list)
    started = time.monotonic()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    fuzzed = [op for op in operations if (op.method.upper(), op.path) not in LEFT_OUT]
    for operation in fuzzed:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, real, headers, seen, failures)
    elapsed = time.monotonic() - started
    print(f"\n{role}: {sum(sum(c.values()) for c in seen.values())} requests in {elapsed:.1f} s")
    for label, statuses in sorted(seen.items()):
        print(f"  {label}: {dict(sorted(statuses.items()))}")
    report = "\n\n".join(f"{label}:\n" + "\n".join(found[:2]) for label, found in failures.items())
    assert not failures, report
    # The run stayed signed in throughout, and reached the real work of the role.
    assert world.client.get("/api/v1/tickets/mine", headers=headers).status_code == 200
    succeeded = {label for label, statuses in seen.items() if any(200 <= s < 300 for s in statuses)}
    assert REACHED[role] <= succeeded, REACHED[role] - succeeded


@pytest.mark.parametrize("too_large", [2**31, 2**63, -(2**31) - 1])
def test_place_ids_beyond_an_integer_column_are_refused_not_500(app_ctx, client, too_large):
    """Found by the fuzzing on PostgreSQL (grid_id=-4180331497: integer out of range, 500): an
    id a database column cannot hold is a 422 of the API, on every database."""
    registry = make_registry()
    worker = auth_headers(client, registry.workers[0])
    for path in ("/api/v1/work/patrols/unvisited", "/api/v1/work/tickets", "/api/v1/work/stats"):
        response = client.get(path, query_string={"grid_id": too_large}, headers=worker)
        assert response.status_code == 422, (path, response.get_json())
        assert "grid_id" in response.get_json()["errors"]
    cursor = base64.urlsafe_b64encode(json.dumps([too_large]).encode()).decode().rstrip("=")
    response = client.get("/api/v1/work/patrols/unvisited", query_string={"cursor": cursor}, headers=worker)
    assert response.status_code == 422, response.get_json()
    spec = client.get("/api/openapi.json").get_json()
    (grid_id,) = [p for p in spec["paths"]["/api/v1/work/tickets"]["get"]["parameters"] if p["name"] == "grid_id"]
    assert grid_id["schema"]["maximum"] == 2**31 - 1
