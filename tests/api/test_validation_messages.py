"""Every 4xx of the API speaks Chinese: its message and every field error.

The walk takes every operation of GET /api/openapi.json and sends, as a signed-in member of
staff, what broken or outdated clients send: an empty body, each field with a wrong type, an
unknown field, a body that is not JSON, a list instead of an object, and each query parameter
with a wrong value. No answer may hold a message without Chinese, and the last guard of
webapp.validation_messages (which replaces an untranslated text) must never have been needed.
"""
from __future__ import annotations

import logging
import re
import uuid

import pytest

from tests.factories import make_registry, session_headers

CHINESE = re.compile("[\u4e00-\u9fff]")

WRONG = {
    "string": 12345,
    "integer": "abc",
    "number": "abc",
    "boolean": "maybe",
    "array": "not-a-list",
    "object": 7,
}


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _bodies(spec: dict, schema: dict):
    schema = _resolve(spec, schema)
    yield {}
    yield {"zz_unknown_field": 1}
    yield ["a list"]
    for name, prop in (schema.get("properties") or {}).items():
        prop = _resolve(spec, prop)
        kind = prop.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind in WRONG:
            yield {name: WRONG[kind]}
        yield {name: None}


def _leaf_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaf_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaf_strings(item)


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def _check(response, seen: list) -> None:
    if not 400 <= response.status_code < 500:
        return
    body = response.get_json()
    assert isinstance(body, dict), response.data[:200]
    assert isinstance(body["code"], str)
    texts = [body["message"], *_leaf_strings(body.get("errors") or {})]
    english = [text for text in texts if not CHINESE.search(text)]
    assert not english, (response.request.method, response.request.path, body)
    seen.append(response.status_code)


def test_every_error_of_every_request_schema_is_chinese(app_ctx, client, caplog):
    registry = make_registry()
    headers = session_headers(registry.community_staff)
    spec = client.get("/api/openapi.json").get_json()
    caplog.set_level(logging.WARNING, logger="webapp.validation_messages")
    seen: list[int] = []
    for path, method, operation in _operations(spec):
        url = re.sub(r"\{[^}]+\}", "zz-none", path)
        call = getattr(client, method)
        base = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        content = (operation.get("requestBody") or {}).get("content") or {}
        if "application/json" in content:
            for body in _bodies(spec, content["application/json"]["schema"]):
                _check(call(url, json=body, headers={**base, "Idempotency-Key": str(uuid.uuid4())}), seen)
            _check(call(url, data="{not json", content_type="application/json", headers=base), seen)
        for parameter in operation.get("parameters") or []:
            if parameter.get("in") != "query":
                continue
            kind = _resolve(spec, parameter.get("schema") or {}).get("type")
            value = WRONG.get(kind, "\u0000") if kind in ("integer", "number", "boolean") else "zz" * 200
            _check(call(url, query_string={parameter["name"]: value}, headers=base), seen)
        _check(call(url, headers=base), seen)
    assert seen.count(422) >= 20 and 400 in seen  # the walk did reach the validators
    fallbacks = [r.getMessage() for r in caplog.records if r.name == "webapp.validation_messages"]
    assert not fallbacks, fallbacks


@pytest.mark.parametrize(
    "body, field, text",
    [
        ({}, "code", "此项为必填项"),
        ({"code": 1}, "code", "格式有误，应为文字"),
        ({"photo_ids": "p1"}, "photo_ids", "格式有误，应为列表"),
        ({"anonymous": "maybe"}, "anonymous", "格式有误，应为 true 或 false"),
    ],
)
def test_ticket_submission_errors_name_the_field_in_chinese(app_ctx, client, body, field, text):
    registry = make_registry()
    headers = {**session_headers(registry.workers[0]), "Idempotency-Key": str(uuid.uuid4())}
    response = client.post("/api/v1/tickets", json=body, headers=headers)
    assert response.status_code == 422
    assert text in response.get_json()["errors"][field]


def test_a_body_that_is_not_json_is_a_chinese_400(app_ctx, client):
    registry = make_registry()
    headers = {**session_headers(registry.workers[0]), "Idempotency-Key": str(uuid.uuid4())}
    response = client.post(
        "/api/v1/tickets", data="{oops", content_type="application/json", headers=headers
    )
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == "请求格式有误"
    assert body["errors"] == {"_schema": ["请求内容不是有效的 JSON"]}
