"""Bad input to the submission, each answered in the contract's error shape, never a 500;
content security; one ticket per idempotency key even under concurrent repeats."""
from __future__ import annotations

import threading
import uuid

import pytest
import requests

from tests.factories import auth_headers, make_registry, submit
from webapp.extensions import db
from webapp.registry.codes import revoke_code
from webapp.tickets.models import Ticket

MSG_SEC_CHECK = "https://api.weixin.qq.com/wxa/msg_sec_check"


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def resident(client, registry):
    return auth_headers(client, openid="resident-checks")


def _error(response, status, code=None):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"code", "message", "errors"}
    assert body["message"]
    if code:
        assert body["code"] == code
    return body


def test_missing_idempotency_key_is_400(client, registry, resident):
    body = {"code": registry.codes[registry.buildings[0].id], "kind": "report",
            "category": "light", "description": "楼道灯坏了很久"}
    response = client.post("/api/v1/tickets", json=body, headers=resident)
    _error(response, 400, "idempotency_key_required")


def test_unknown_and_revoked_codes(client, registry, resident):
    _error(submit(client, resident, "NoSuchCode123"), 404, "code_not_found")
    building = registry.buildings[0]
    revoke_code(building.id)
    db.session.commit()
    _error(submit(client, resident, registry.codes[building.id]), 410, "code_revoked")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"category": "no_such_category"}, "category"),
        ({"category": "wish"}, "category"),  # a wish category filed as a report
        ({"description": ""}, "description"),
        ({"description": "    "}, "description"),
        ({"description": "很" * 501}, "description"),
        ({"photo_ids": [f"p{i}" for i in range(10)]}, "photo_ids"),
        ({"photo_ids": ["not-my-photo"]}, "photo_ids"),
        ({"unit": "99单元"}, "unit"),
        ({"kind": "complaint"}, "kind"),
        ({"contact_phone": "12345"}, "contact_phone"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(client, registry, resident, fields, field):
    body = _error(submit(client, resident, registry.codes[registry.buildings[0].id], **fields), 422)
    assert field in body["errors"]
    assert db.session.query(Ticket).count() == 0


@pytest.mark.parametrize(
    "raw, field",
    [
        ('"description": "楼道灯坏了\\u0000很黑"', "description"),  # NUL: PostgreSQL stores none
        ('"description": "楼道灯坏了\\ud800很黑"', "description"),  # a lone surrogate: no UTF-8
        ('"unit": "1单元\\u0000"', "unit"),
        ('"photo_ids": ["a\\u0000"]', "photo_ids.0"),
    ],
)
def test_unstorable_characters_are_422_naming_the_field(client, registry, resident, raw, field):
    code = registry.codes[registry.buildings[0].id]
    body = '{"code": "%s", "kind": "report", "category": "light", "description": "楼道灯坏了很久", %s}' % (code, raw)
    response = client.post(
        "/api/v1/tickets", data=body.encode(), content_type="application/json",
        headers={**resident, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert _error(response, 422, "invalid_characters")["errors"] == {field: ["内容中含有无法识别的字符，请删除后重试"]}
    assert db.session.query(Ticket).count() == 0


def test_nul_in_the_query_string_is_422(client, registry, resident):
    response = client.get("/api/v1/tickets/mine?cursor=%00", headers=resident)
    assert _error(response, 422, "invalid_characters")["errors"] == {"cursor": ["内容中含有无法识别的字符，请删除后重试"]}


def test_malformed_json_is_400(client, registry, resident):
    response = client.post(
        "/api/v1/tickets", data="{not json", content_type="application/json",
        headers={**resident, "Idempotency-Key": "k"},
    )
    _error(response, 400)


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000])
def test_json_nested_too_deeply_is_400(client, registry, resident, body):
    response = client.post(
        "/api/v1/tickets", data=body, content_type="application/json",
        headers={**resident, "Idempotency-Key": "k"},
    )
    _error(response, 400, "bad_request")
    assert db.session.query(Ticket).count() == 0


def test_token_of_deleted_session_is_401(client, registry, resident):
    from webapp.people.models import AuthSession

    db.session.query(AuthSession).delete()
    db.session.commit()
    _error(submit(client, resident, registry.codes[registry.buildings[0].id]), 401)


def test_risky_text_is_refused(client, registry, resident, wechat_http):
    wechat_http.post(MSG_SEC_CHECK, json={"errcode": 0, "result": {"suggest": "risky", "label": 20001}})
    response = submit(client, resident, registry.codes[registry.buildings[0].id])
    _error(response, 422, "content_risky")
    assert db.session.query(Ticket).count() == 0


def test_wechat_unreachable_keeps_ticket_for_review(client, registry, resident, wechat_http):
    wechat_http.post(MSG_SEC_CHECK, body=requests.ConnectionError("down"))
    code = registry.codes[registry.buildings[0].id]
    response = submit(client, resident, code)
    assert response.status_code == 201
    ticket = db.session.get(Ticket, response.get_json()["id"])
    assert ticket.needs_review is True
    assert client.get(f"/api/v1/scan/{code}").get_json()["open_tickets"] == []


def test_passing_text_is_published(client, registry, resident, wechat_http):
    wechat_http.post(MSG_SEC_CHECK, json={"errcode": 0, "result": {"suggest": "pass", "label": 100}})
    code = registry.codes[registry.buildings[0].id]
    assert submit(client, resident, code).status_code == 201
    assert len(client.get(f"/api/v1/scan/{code}").get_json()["open_tickets"]) == 1


@pytest.mark.postgres
def test_five_concurrent_submissions_with_one_key_make_one_ticket(app, client, registry, resident):
    code = registry.codes[registry.buildings[0].id]
    key = str(uuid.uuid4())
    barrier = threading.Barrier(5)
    statuses, ids = [], []

    def send():
        local = app.test_client()
        barrier.wait()
        response = submit(local, resident, code, key=key)
        statuses.append(response.status_code)
        ids.append(response.get_json().get("id"))

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count(201) == 1
    assert set(statuses) <= {200, 201}
    assert len(set(ids)) == 1
    db.session.expire_all()
    assert db.session.query(Ticket).count() == 1


def test_an_anonymous_report_is_refused_not_filed_under_a_name(client, registry, resident):
    response = submit(client, resident, registry.codes[registry.buildings[0].id], anonymous=True)
    body = _error(response, 422, "anonymous_report")
    assert "心语心愿可以匿名" in body["errors"]["anonymous"][0]
    assert db.session.query(Ticket).count() == 0


def test_an_anonymous_wish_is_still_taken(client, registry, resident):
    response = submit(
        client, resident, registry.codes[registry.buildings[0].id], kind="wish", category="wish",
        anonymous=True, description="希望小区里多放几张长椅",
    )
    assert response.status_code == 201, response.get_json()
    assert db.session.query(Ticket).one().is_anonymous


@pytest.mark.parametrize(
    "path, field",
    [
        ("/api/v1/tickets/a%00b", "ticket_id"),
        ("/api/v1/photos/a%00b", "photo_id"),
        ("/wechat/media/a%00b/x", "photo_id"),
    ],
)
def test_nul_in_a_path_segment_is_422_naming_it(client, registry, resident, path, field):
    response = client.get(path, headers=resident)
    assert _error(response, 422, "invalid_characters")["errors"] == {field: ["内容中含有无法识别的字符，请删除后重试"]}


def test_nul_in_a_console_path_is_a_chinese_page(client, registry):
    response = client.get("/console/tickets/a%00b", headers={"Accept": "text/html"})
    assert response.status_code == 422
    assert "内容中含有无法识别的字符" in response.get_data(as_text=True)
