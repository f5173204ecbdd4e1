"""POST /api/v1/subscriptions: what wx.requestSubscribeMessage answered, per template id.

Every form of accept counts; an answer the API does not understand is ignored for its template
only (and named in `ignored`); only a malformed body is a 422, with Chinese messages.
"""
from __future__ import annotations

import re

import pytest

from tests.factories import auth_headers
from webapp.extensions import db
from webapp.notifications.subscriptions import remaining_consent
from webapp.people.models import Person

URL = "/api/v1/subscriptions"
CHINESE = re.compile("[\u4e00-\u9fff]")


def _post(client, headers, results, **extra):
    return client.post(URL, json={"results": results, **extra}, headers=headers)


def _person_id(openid: str) -> str:
    return db.session.query(Person.id).filter_by(openid=openid).scalar()


def _all_chinese(errors) -> bool:
    if isinstance(errors, dict):
        return all(_all_chinese(value) for value in errors.values())
    if isinstance(errors, list):
        return all(_all_chinese(value) for value in errors)
    return isinstance(errors, str) and bool(CHINESE.search(errors))


def test_accept_adds_one_each_time_reject_keeps_and_ban_clears(client, app_ctx):
    headers = auth_headers(client, openid="resident-sub")
    for expected in (1, 2):
        response = _post(client, headers, {"T-A": "accept", "T-B": "reject", "T-C": "filter"})
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {"remaining": {"T-A": expected, "T-B": 0, "T-C": 0}, "ignored": []}
    banned = _post(client, headers, {"errMsg": "requestSubscribeMessage:ok", "T-A": "ban"})
    assert banned.get_json() == {"remaining": {"T-A": 0}, "ignored": []}
    assert remaining_consent(_person_id("resident-sub"), "T-A") == 0


@pytest.mark.parametrize("accept", ["acceptWithAudio", "acceptWithAlert", "acceptWithAudioAlert"])
def test_every_form_of_accept_counts(client, app_ctx, accept):
    headers = auth_headers(client, openid="resident-new-client")
    response = _post(client, headers, {"T-A": accept, "T-B": "accept"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"remaining": {"T-A": 1, "T-B": 1}, "ignored": []}
    assert remaining_consent(_person_id("resident-new-client"), "T-A") == 1


def test_an_unknown_answer_is_ignored_for_its_template_only(client, app_ctx):
    headers = auth_headers(client, openid="resident-odd")
    response = _post(
        client, headers,
        {"T-A": "accept", "T-B": "maybe", "T-C": 3, "T-D": None, "T-E": {"x": 1}, "T-F": "ACCEPT", "T-G": "acceptWithAudio"},
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["remaining"] == {"T-A": 1, "T-G": 1}
    assert body["ignored"] == ["T-B", "T-C", "T-D", "T-E", "T-F"]
    person_id = _person_id("resident-odd")
    assert remaining_consent(person_id, "T-A") == 1
    assert remaining_consent(person_id, "T-B") == 0


def test_long_term_template_accepted_twice_is_still_one(client, app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_TEMPLATES", {"ticket_dispatched": "T-LONG"})
    monkeypatch.setitem(app.config, "WECHAT_LONG_TERM_TEMPLATES", frozenset({"T-LONG"}))
    headers = auth_headers(client, openid="resident-long")
    for _ in range(2):
        response = _post(client, headers, {"T-LONG": "accept", "T-ONCE": "accept"})
        assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"remaining": {"T-LONG": 1, "T-ONCE": 2}, "ignored": []}


def test_errmsg_does_not_count_against_the_limit(client, app_ctx):
    headers = auth_headers(client, openid="resident-ten")
    results = {f"T-{n}": "accept" for n in range(10)}
    response = _post(client, headers, {"errMsg": "requestSubscribeMessage:ok", **results})
    assert response.status_code == 200, response.get_json()
    assert len(response.get_json()["remaining"]) == 10


def test_needs_login(client, app_ctx):
    response = client.post(URL, json={"results": {"T": "accept"}})
    assert response.status_code == 401
    assert CHINESE.search(response.get_json()["message"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"T": "accept"}], "_schema"),  # not an object
        ("accept", "_schema"),
        ({}, "results"),  # no results
        ({"results": ["T", "accept"]}, "results"),  # results not an object
        ({"results": "accept"}, "results"),
        ({"results": {}}, "results"),  # nothing in it
        ({"results": {"errMsg": "requestSubscribeMessage:ok"}}, "results"),
        ({"results": {f"T-{n}": "accept" for n in range(11)}}, "results"),  # too many
        ({"results": {"T" * 65: "accept"}}, "results"),  # not a template id
        ({"results": {"": "accept"}}, "results"),
    ],
)
def test_a_malformed_body_is_422_in_chinese(client, app_ctx, body, field):
    headers = auth_headers(client, openid="resident-bad")
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    answer = response.get_json()
    assert answer["code"] == "validation_error"
    assert CHINESE.search(answer["message"])
    assert field in answer["errors"], answer
    assert _all_chinese(answer["errors"]), answer["errors"]
    assert remaining_consent(_person_id("resident-bad"), "T-0") == 0


def test_too_many_templates_says_how_many_are_allowed(client, app_ctx):
    headers = auth_headers(client, openid="resident-many")
    response = _post(client, headers, {f"T-{n}": "accept" for n in range(11)})
    assert response.status_code == 422
    assert response.get_json()["errors"]["results"] == ["模板数量必须在 1 到 10 个之间"]


def test_openapi_documents_the_answers_and_ignored(client):
    spec = client.get("/api/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    request = next(s for name, s in schemas.items() if name.startswith("SubscribeResults"))
    results = request["properties"]["results"]
    assert results["additionalProperties"]["type"] == "string"
    assert "acceptWithAudio" in results["description"] and "ignored" in results["description"]
    assert results["maxProperties"] == 10 and results["minProperties"] == 1
    state = next(s for name, s in schemas.items() if name.startswith("SubscriptionState"))
    assert state["properties"]["ignored"]["type"] == "array"
