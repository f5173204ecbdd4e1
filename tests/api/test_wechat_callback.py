"""/wechat/callback (WeChat's pushes) and /api/v1/subscriptions (the mini-program's consents).

The callback's rules: signature, timestamp window, safe mode only when an AES key is set,
retries acted on once, a signed query string used once; what it acts on: subscription events,
media-check verdicts (before or after the photo joins a ticket), authorization changes.
"""
from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
import xmltodict
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from tests.factories import auth_headers, jpeg_bytes, make_person, make_registry, submit, upload_photo
from webapp.extensions import db
from webapp.notifications.models import SubscriptionQuota, WeChatPush
from webapp.notifications.subscriptions import add_consent, remaining_consent
from webapp.people.erasure import PLACEHOLDER_NAME
from webapp.people.models import AuthSession, Person
from webapp.tickets.models import Photo, Ticket
from webapp.wechat_callback import signature_of

TOKEN = "callback-token"
APPID = "wx-test-app"
AES_KEY = base64.b64encode(b"k" * 32).decode().rstrip("=")
OPENID = "o-resident-cb"


@pytest.fixture
def configured(app, monkeypatch):
    """Plain mode: a token, no AES key."""
    monkeypatch.setitem(app.config, "WECHAT_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "WECHAT_AES_KEY", "")
    monkeypatch.setitem(app.config, "WECHAT_APPID", APPID)
    return app


@pytest.fixture
def safe_mode(configured, monkeypatch):
    monkeypatch.setitem(configured.config, "WECHAT_AES_KEY", AES_KEY)
    return configured


@pytest.fixture
def resident(app_ctx):
    person = make_person("居民甲", openid=OPENID)
    db.session.commit()
    return person


def _signed(timestamp: int | None = None, **extra) -> dict:
    """A freshly signed query string (a new nonce each time, as WeChat sends)."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex[:12]
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature_of(TOKEN, timestamp, nonce), **extra}


def _sealed(inner: str, outer: str = "xml") -> tuple[dict, str]:
    """(query, body) of a push in safe mode, as WeChat sends it."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    query = _signed(encrypt_type="aes")
    sealed = xmltodict.parse(crypto.encrypt_message(inner, query["nonce"], query["timestamp"]))["xml"]
    query["msg_signature"] = sealed["MsgSignature"]
    if outer == "json":
        return query, json.dumps({"ToUserName": "gh_test", "Encrypt": sealed["Encrypt"]})
    body = f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    return query, body


def _post(client, body, query=None):
    query = query or _signed()
    if isinstance(body, dict):
        return client.post("/wechat/callback", query_string=query, json=body)
    return client.post("/wechat/callback", query_string=query, data=body, content_type="text/xml")


def _popup_xml(*entries, created: int = 1676138120, openid: str = OPENID) -> str:
    items = "".join(
        f"<List><TemplateId><![CDATA[{template}]]></TemplateId>"
        f"<SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>"
        f"<PopupScene>0</PopupScene></List>"
        for template, status in entries
    )
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[subscribe_msg_popup_event]]></Event>"
        f"<SubscribeMsgPopupEvent>{items}</SubscribeMsgPopupEvent></xml>"
    )


def _error(response) -> str:
    return (response.get_json() or {}).get("code", "")


# --- the address and its signature ------------------------------------------------------------


def test_callback_get_with_good_signature_echoes_echostr(client, configured):
    response = client.get("/wechat/callback", query_string=_signed(echostr="4385921"))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "4385921"


def test_callback_bad_signature_is_403_in_contract_shape(client, configured):
    query = {**_signed(echostr="x"), "signature": "0" * 40}
    for response in (
        client.get("/wechat/callback", query_string=query),
        client.post("/wechat/callback", query_string=query, data=_popup_xml(("T1", "accept"))),
    ):
        assert response.status_code == 403
        assert response.get_json() == {"code": "bad_signature", "message": "签名校验失败", "errors": {}}


def test_callback_without_token_configured_is_absent(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_TOKEN", "")
    assert client.get("/wechat/callback", query_string={"echostr": "x"}).status_code == 404


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_a_signed_timestamp_outside_the_window_is_refused(client, configured, resident, offset):
    query = _signed(timestamp=int(time.time()) + offset, echostr="x")
    got = client.get("/wechat/callback", query_string=query)
    assert got.status_code == 403 and _error(got) == "stale_push"
    posted = _post(client, _popup_xml(("T-OLD", "accept")), _signed(timestamp=int(time.time()) + offset))
    assert posted.status_code == 403 and _error(posted) == "stale_push"
    assert remaining_consent(resident.id, "T-OLD") == 0


def test_a_timestamp_within_the_window_and_a_shorter_window(client, configured, resident, monkeypatch):
    assert _post(client, _popup_xml(("T-EDGE", "accept")), _signed(timestamp=int(time.time()) - 250)).status_code == 200
    monkeypatch.setitem(configured.config, "WECHAT_PUSH_MAX_AGE_SECONDS", 60)
    late = _post(client, _popup_xml(("T-EDGE", "accept"), created=2), _signed(timestamp=int(time.time()) - 120))
    assert late.status_code == 403 and _error(late) == "stale_push"
    not_a_number = {**_signed(), "timestamp": "soon"}
    not_a_number["signature"] = signature_of(TOKEN, "soon", not_a_number["nonce"])
    assert _error(client.get("/wechat/callback", query_string=not_a_number)) == "stale_push"
    assert remaining_consent(resident.id, "T-EDGE") == 1


# --- safe mode ---------------------------------------------------------------------------------


def test_safe_mode_message_is_decrypted(client, safe_mode, resident):
    query, body = _sealed(_popup_xml(("T-SAFE", "accept")))
    response = client.post("/wechat/callback", query_string=query, data=body)
    assert response.status_code == 200, response.get_json()
    assert remaining_consent(resident.id, "T-SAFE") == 1

    forged = client.post("/wechat/callback", query_string={**query, "msg_signature": "0" * 40}, data=body)
    assert forged.status_code == 403 and _error(forged) == "bad_signature"
    assert remaining_consent(resident.id, "T-SAFE") == 1


def test_safe_mode_json_message_is_decrypted(client, safe_mode, resident):
    inner = json.dumps({
        "ToUserName": "gh_test", "FromUserName": OPENID, "CreateTime": 1, "MsgType": "event",
        "Event": "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent": [{"TemplateId": "T-JSON", "SubscribeStatusString": "accept", "PopupScene": "0"}],
    })
    query, body = _sealed(inner, outer="json")
    response = client.post("/wechat/callback", query_string=query, data=body, content_type="application/json")
    assert response.status_code == 200, response.get_json()
    assert remaining_consent(resident.id, "T-JSON") == 1


def test_with_an_aes_key_a_plaintext_push_is_refused(client, safe_mode, resident):
    plain = _post(client, _popup_xml(("T-PLAIN", "accept")))
    assert plain.status_code == 403
    assert plain.get_json() == {"code": "plaintext_refused", "message": "已启用消息加密，只受理安全模式推送", "errors": {}}
    claimed = _post(client, _popup_xml(("T-PLAIN", "accept")), _signed(encrypt_type="aes", msg_signature="0" * 40))
    assert claimed.status_code == 403 and _error(claimed) == "plaintext_refused"
    assert remaining_consent(resident.id, "T-PLAIN") == 0
    assert db.session.scalar(select(func.count()).select_from(WeChatPush)) == 0


def test_without_an_aes_key_an_encrypted_push_is_400(client, configured):
    query, body = _sealed(_popup_xml(("T-X", "accept")))
    response = client.post("/wechat/callback", query_string=query, data=body)
    assert response.status_code == 400 and _error(response) == "wechat_aes_not_configured"


def test_malformed_body_is_400(client, configured):
    response = client.post("/wechat/callback", query_string=_signed(), data="<xml><unclosed>")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_message"


# --- retries and replays -----------------------------------------------------------------------


def test_a_retried_push_is_answered_and_acted_on_once(client, configured, resident):
    body = _popup_xml(("T-RETRY", "accept"))
    query = _signed()
    for _ in range(3):  # the very same request, as a log or the network might repeat it
        response = _post(client, body, query)
        assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    retried = _post(client, body)  # WeChat's retry: same message, a new signature
    assert retried.status_code == 200 and retried.get_data(as_text=True) == "success"
    assert remaining_consent(resident.id, "T-RETRY") == 1
    another = _post(client, _popup_xml(("T-RETRY", "accept"), created=1676138121))  # a new event
    assert another.status_code == 200
    assert remaining_consent(resident.id, "T-RETRY") == 2


def test_a_retried_push_in_safe_mode_is_acted_on_once(client, safe_mode, resident):
    inner = _popup_xml(("T-SAFE-RETRY", "accept"))
    for _ in range(2):  # each sealed anew, as WeChat does: another Encrypt, the same message
        query, body = _sealed(inner)
        assert client.post("/wechat/callback", query_string=query, data=body).status_code == 200
    assert remaining_consent(resident.id, "T-SAFE-RETRY") == 1


def test_a_signed_query_string_cannot_carry_another_body(client, configured, resident):
    query = _signed()
    assert _post(client, _popup_xml(("T-FIRST", "accept")), query).status_code == 200
    replayed = _post(client, _popup_xml(("T-FORGED", "accept"), created=1700000000), query)
    assert replayed.status_code == 403
    assert replayed.get_json() == {"code": "replayed_push", "message": "该推送签名已使用过，不予受理", "errors": {}}
    assert remaining_consent(resident.id, "T-FIRST") == 1
    assert remaining_consent(resident.id, "T-FORGED") == 0
    # Nothing of the refused push is remembered: the same message, signed anew, is acted on.
    assert _post(client, _popup_xml(("T-FORGED", "accept"), created=1700000000)).status_code == 200
    assert remaining_consent(resident.id, "T-FORGED") == 1


def test_two_users_authorization_changes_of_one_second_are_both_acted_on(client, configured, app_ctx):
    """Their FromUserName is WeChat's own account: the OpenID tells them apart."""
    first = make_person("甲", openid="o-first")
    second = make_person("乙", openid="o-second")
    db.session.commit()
    for openid in ("o-first", "o-second"):
        assert _post(client, _authorization_xml("user_authorization_cancellation", openid)).status_code == 200
    db.session.expire_all()
    assert db.session.get(Person, first.id).openid is None
    assert db.session.get(Person, second.id).openid is None


# --- subscription events -----------------------------------------------------------------------


def test_popup_event_counts_each_accepted_template(client, configured, resident):
    response = _post(client, _popup_xml(("T-ACC", "accept"), ("T-REJ", "reject")))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"
    assert remaining_consent(resident.id, "T-ACC") == 1
    assert remaining_consent(resident.id, "T-REJ") == 0
    _post(client, _popup_xml(("T-ACC", "accept"), created=1676138121))  # one entry: not a list in XML
    assert remaining_consent(resident.id, "T-ACC") == 2


def _json_event(event: str, container: str, entries, created: int) -> dict:
    return {
        "ToUserName": "gh_test", "FromUserName": OPENID, "CreateTime": created, "MsgType": "event",
        "Event": event, container: entries,
    }


def test_change_event_in_json_turns_the_template_off(client, configured, resident):
    _post(client, _popup_xml(("T-1", "accept")))
    body = _json_event(
        "subscribe_msg_change_event", "SubscribeMsgChangeEvent",
        {"List": [{"TemplateId": "T-1", "SubscribeStatusString": "reject"}]}, 1676139264,
    )
    response = _post(client, body)
    assert response.status_code == 200
    assert remaining_consent(resident.id, "T-1") == 0


@pytest.mark.parametrize(
    "entries",
    [
        {"List": {"TemplateId": "T-ONE", "SubscribeStatusString": "accept", "PopupScene": "0"}},
        {"List": [
            {"TemplateId": "T-ONE", "SubscribeStatusString": "accept", "PopupScene": "0"},
            {"TemplateId": "T-TWO", "SubscribeStatusString": "accept", "PopupScene": "0"},
        ]},
        [{"TemplateId": "T-ONE", "SubscribeStatusString": "accept", "PopupScene": "0"}],
    ],
    ids=["List-object-for-one", "List-array-for-several", "array"],
)
def test_json_popup_event_list_as_object_or_array(client, configured, resident, entries):
    body = _json_event("subscribe_msg_popup_event", "SubscribeMsgPopupEvent", entries, 1676138200)
    assert _post(client, body).status_code == 200
    several = isinstance(entries, dict) and isinstance(entries["List"], list)
    assert remaining_consent(resident.id, "T-ONE") == 1
    assert remaining_consent(resident.id, "T-TWO") == (1 if several else 0)


# --- media-check verdicts --------------------------------------------------------------------


def _media_check_xml(trace_id: str, suggest: str, created: int = 1626959646) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o-x]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[wxa_media_check]]></Event><appid><![CDATA[wx-test-app]]></appid>"
        f"<trace_id><![CDATA[{trace_id}]]></trace_id><version>2</version>"
        f"<detail><strategy><![CDATA[content_model]]></strategy><errcode>0</errcode><suggest><![CDATA[{suggest}]]></suggest>"
        "<label>20002</label><prob>90</prob></detail>"
        f"<errcode>0</errcode><errmsg><![CDATA[ok]]></errmsg><result><suggest><![CDATA[{suggest}]]></suggest>"
        "<label>20002</label></result></xml>"
    )


def _media_check_json(trace_id: str, suggest: str, created: int = 1626959647) -> dict:
    """WeChat's JSON push of a mediaCheckAsync v2 verdict."""
    return {
        "ToUserName": "gh_test", "FromUserName": "o-x", "CreateTime": created, "MsgType": "event",
        "Event": "wxa_media_check", "appid": APPID, "trace_id": trace_id, "version": 2,
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": 20002, "prob": 90}],
        "errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": 20002},
    }


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def reporter(client, registry):
    return auth_headers(client, openid="resident-photo")


def _checked_photo(client, headers, trace_id: str) -> str:
    """An uploaded photo that WeChat was asked to check under trace_id."""
    photo_id = upload_photo(client, headers)
    db.session.get(Photo, photo_id).check_trace_id = trace_id
    db.session.commit()
    return photo_id


def _submit(client, registry, headers, photo_ids) -> dict:
    response = submit(client, headers, registry.codes[registry.buildings[0].id], photo_ids=photo_ids)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def ticket_with_photo(client, registry, reporter):
    photo_id = _checked_photo(client, reporter, "trace-60f96f1d")
    return _submit(client, registry, reporter, [photo_id])["id"], photo_id


@pytest.mark.parametrize("shape", ["xml", "json"])
def test_media_check_risky_hides_the_photo_and_flags_the_ticket(client, configured, ticket_with_photo, shape):
    ticket_id, photo_id = ticket_with_photo
    before = db.session.get(Ticket, ticket_id)
    status_before, version_before = before.status, before.version
    push = _media_check_xml if shape == "xml" else _media_check_json
    response = _post(client, push("trace-60f96f1d", "risky"))
    assert response.status_code == 200
    db.session.expire_all()
    photo = db.session.get(Photo, photo_id)
    assert photo.is_hidden is True and photo.check_verdict == "risky" and photo.checked_at is not None
    ticket = db.session.get(Ticket, ticket_id)
    assert ticket.needs_review is True
    assert (ticket.status, ticket.version) == (status_before, version_before)


def test_media_check_pass_changes_nothing(client, configured, ticket_with_photo):
    ticket_id, photo_id = ticket_with_photo
    _post(client, _media_check_json("trace-60f96f1d", "pass"))
    db.session.expire_all()
    photo = db.session.get(Photo, photo_id)
    assert photo.is_hidden is False and photo.check_verdict == "pass"
    assert db.session.get(Ticket, ticket_id).needs_review is False


def test_a_pass_after_risky_does_not_show_the_photo_again(client, configured, ticket_with_photo):
    _ticket_id, photo_id = ticket_with_photo
    _post(client, _media_check_xml("trace-60f96f1d", "risky"))
    _post(client, _media_check_xml("trace-60f96f1d", "pass", created=1626959700))
    db.session.expire_all()
    photo = db.session.get(Photo, photo_id)
    assert photo.is_hidden is True and photo.check_verdict == "pass"


def test_risky_before_submission_holds_the_ticket_and_hides_the_photo_from_the_resident(
    client, configured, registry, reporter
):
    kept = upload_photo(client, reporter)
    flagged = _checked_photo(client, reporter, "trace-early-risky")
    assert _post(client, _media_check_json("trace-early-risky", "risky")).status_code == 200
    db.session.expire_all()
    assert db.session.get(Photo, flagged).is_hidden is True
    assert client.get(f"/api/v1/photos/{flagged}", headers=reporter).status_code == 404

    filed = _submit(client, registry, reporter, [kept, flagged])
    db.session.expire_all()
    ticket = db.session.get(Ticket, filed["id"])
    assert ticket.needs_review is True
    assert filed["version"] == ticket.version  # held without a version conflict for the client

    mine = client.get(f"/api/v1/tickets/{filed['id']}", headers=reporter).get_json()
    assert mine["photo_ids"] == [kept]
    assert [e["photo_ids"] for e in mine["timeline"]] == [[]]  # the submit event lists none
    assert client.get(f"/api/v1/photos/{flagged}", headers=reporter).status_code == 404
    assert client.get(f"/api/v1/photos/{kept}", headers=reporter).status_code == 200

    worker = auth_headers(client, registry.workers[0])  # the grid worker of its building
    seen = client.get(f"/api/v1/tickets/{filed['id']}", headers=worker).get_json()
    assert seen["photo_ids"] == [kept, flagged]
    assert client.get(f"/api/v1/photos/{flagged}", headers=worker).status_code == 200
    other_grid = auth_headers(client, registry.workers[1])
    assert client.get(f"/api/v1/photos/{flagged}", headers=other_grid).status_code == 404


def test_review_before_submission_holds_the_ticket_after_submission(client, configured, registry, reporter):
    photo_id = _checked_photo(client, reporter, "trace-early-review")
    assert _post(client, _media_check_xml("trace-early-review", "review")).status_code == 200
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).is_hidden is False
    filed = _submit(client, registry, reporter, [photo_id])
    db.session.expire_all()
    assert db.session.get(Ticket, filed["id"]).needs_review is True
    shown = client.get(f"/api/v1/tickets/{filed['id']}", headers=reporter).get_json()
    assert shown["photo_ids"] == [photo_id] and shown["needs_review"] is True


def test_pass_before_submission_changes_nothing(client, configured, registry, reporter):
    photo_id = _checked_photo(client, reporter, "trace-early-pass")
    assert _post(client, _media_check_json("trace-early-pass", "pass")).status_code == 200
    filed = _submit(client, registry, reporter, [photo_id])
    db.session.expire_all()
    assert db.session.get(Ticket, filed["id"]).needs_review is False
    assert db.session.get(Photo, photo_id).check_verdict == "pass"
    assert client.get(f"/api/v1/photos/{photo_id}", headers=reporter).status_code == 200


def test_a_flagged_photo_of_a_staff_action_holds_the_ticket(client, configured, registry, reporter):
    ticket_id = _submit(client, registry, reporter, [upload_photo(client, reporter)])["id"]
    worker = auth_headers(client, registry.workers[0])
    assert client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept"}, headers=worker).status_code == 200
    after = _checked_photo(client, worker, "trace-worker")
    _post(client, _media_check_xml("trace-worker", "risky"))
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/actions",
        json={"action": "resolve", "note": "已更换灯泡", "photo_ids": [after]}, headers=worker,
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["needs_review"] is True
    assert after in response.get_json()["timeline"][-1]["photo_ids"]  # staff in scope see it
    shown = client.get(f"/api/v1/tickets/{ticket_id}", headers=reporter).get_json()
    assert shown["timeline"][-1]["action"] == "resolve" and shown["timeline"][-1]["photo_ids"] == []


def test_a_verdict_for_an_unknown_trace_is_ignored(client, configured, app_ctx):
    assert _post(client, _media_check_json("trace-nobody", "risky")).status_code == 200


# --- authorization changes -------------------------------------------------------------------


def _authorization_xml(event: str, openid: str, created: int = 1626857200, revoke: str = "1") -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_870882ca4b1]]></ToUserName>"
        "<FromUserName><![CDATA[owAqB1v0ahK_Xlc7GshIDdf2yf7E]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><OpenID><![CDATA[{openid}]]></OpenID>"
        f"<AppID><![CDATA[{APPID}]]></AppID><RevokeInfo><![CDATA[{revoke}]]></RevokeInfo></xml>"
    )


def _authorization_json(event: str, openid: str, created: int = 1627359464, revoke: str = "1") -> dict:
    return {
        "ToUserName": "gh_870882ca4b1", "FromUserName": "oaKk346BaWE-eIn4oSRWbaM9vR7s",
        "CreateTime": created, "MsgType": "event", "Event": event, "OpenID": openid, "AppID": APPID,
        "RevokeInfo": revoke,
    }


@pytest.mark.parametrize(
    ("event", "shape"),
    [("user_authorization_cancellation", "json"), ("user_authorization_cancellation", "xml")],
)
def test_a_cancellation_forgets_the_resident(client, configured, registry, event, shape):
    headers = auth_headers(client, openid="o-leaving")
    filed = _submit_with_phone(client, registry, headers)
    person = db.session.scalars(select(Person).where(Person.openid == "o-leaving")).one()
    person_id = person.id
    add_consent(person_id, "T-LEAVE")
    db.session.commit()

    push = _authorization_xml if shape == "xml" else _authorization_json
    assert _post(client, push(event, "o-leaving")).status_code == 200
    db.session.expire_all()
    person = db.session.get(Person, person_id)
    assert (person.openid, person.name, person.phone) == (None, PLACEHOLDER_NAME, None)
    assert db.session.scalar(select(func.count()).where(AuthSession.person_id == person_id)) == 0
    assert db.session.scalar(select(func.count()).where(SubscriptionQuota.person_id == person_id)) == 0
    ticket = db.session.get(Ticket, filed["id"])
    assert ticket.contact_phone is None and ticket.reporter_id == person_id
    assert client.get("/api/v1/tickets/mine", headers=headers).status_code == 401

    # Again (a later push naming the same user): nothing left to do, still "success".
    again = _post(client, push(event, "o-leaving", created=1700000000))
    assert again.status_code == 200 and again.get_data(as_text=True) == "success"
    # Back in the mini-program later, they are a new resident.
    assert client.get("/api/v1/tickets/mine", headers=auth_headers(client, openid="o-leaving")).get_json()["items"] == []


@pytest.mark.parametrize("shape", ["xml", "json"])
def test_a_revoke_of_the_phone_number_deletes_the_phones_and_nothing_else(client, configured, registry, shape):
    headers = auth_headers(client, openid="o-phone")
    filed = _submit_with_phone(client, registry, headers)
    person = db.session.scalars(select(Person).where(Person.openid == "o-phone")).one()
    person.phone, person.name = "13900001111", "李阿姨"
    db.session.commit()
    push = _authorization_xml if shape == "xml" else _authorization_json
    assert _post(client, push("user_authorization_revoke", "o-phone", revoke="8")).status_code == 200
    db.session.expire_all()
    person = db.session.get(Person, person.id)
    assert (person.openid, person.name, person.phone) == ("o-phone", "李阿姨", None)
    assert db.session.get(Ticket, filed["id"]).contact_phone is None
    assert client.get("/api/v1/tickets/mine", headers=headers).status_code == 200  # still signed in


def test_a_revoke_of_what_is_never_stored_changes_nothing(client, configured, registry):
    headers = auth_headers(client, openid="o-camera")
    filed = _submit_with_phone(client, registry, headers)
    for revoke in ("7", "13", "99"):  # camera, location, a value WeChat may add
        assert _post(client, _authorization_json("user_authorization_revoke", "o-camera", revoke=revoke,
                                                 created=1627359464 + int(revoke))).status_code == 200
    db.session.expire_all()
    assert db.session.get(Ticket, filed["id"]).contact_phone == "13900001111"
    assert client.get("/api/v1/tickets/mine", headers=headers).status_code == 200


def test_a_revoke_of_the_nickname_replaces_a_residents_name(client, configured, registry):
    auth_headers(client, openid="o-nick")
    person = db.session.scalars(select(Person).where(Person.openid == "o-nick")).one()
    person.name = "微信昵称"
    db.session.commit()
    assert _post(client, _authorization_json("user_authorization_revoke", "o-nick", revoke="19")).status_code == 200
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == PLACEHOLDER_NAME


def test_a_revoke_of_chosen_images_deletes_loose_photos_and_unlinks_attached_ones(
    client, configured, registry, app
):
    from webapp.tickets.models import Photo
    from webapp.tickets.photos import photo_file_path

    headers = auth_headers(client, openid="o-images")
    attached = upload_photo(client, headers)
    filed = submit(client, headers, registry.codes[registry.buildings[0].id], photo_ids=[attached]).get_json()
    loose = upload_photo(client, headers, jpeg_bytes(color=(1, 2, 250)))
    loose_photo = db.session.get(Photo, loose)
    loose_file = photo_file_path(loose_photo.sha256, loose_photo.content_type)
    assert loose_file.is_file()
    assert _post(client, _authorization_xml("user_authorization_revoke", "o-images", revoke="14")).status_code == 200
    db.session.expire_all()
    assert db.session.get(Photo, loose) is None and not loose_file.exists()
    kept = db.session.get(Photo, attached)
    assert kept.ticket_id == filed["id"] and kept.uploader_id is None
    assert photo_file_path(kept.sha256, kept.content_type).is_file()


def _submit_with_phone(client, registry, headers) -> dict:
    response = submit(client, headers, registry.codes[registry.buildings[0].id], contact_phone="13900001111")
    assert response.status_code == 201, response.get_json()
    assert db.session.get(Ticket, response.get_json()["id"]).contact_phone == "13900001111"
    return response.get_json()


def test_an_authorization_change_of_a_staff_member_only_unbinds_wechat(client, configured, registry):
    worker = registry.workers[0]
    headers = auth_headers(client, worker)
    openid = worker.openid
    assert _post(client, _authorization_json("user_authorization_cancellation", openid)).status_code == 200
    db.session.expire_all()
    worker = db.session.get(Person, worker.id)
    assert worker.openid is None
    assert (worker.name, worker.phone, worker.code) == ("张丽", "13812345678", "P-ZL")
    assert worker.assignments
    assert client.get("/api/v1/tickets/mine", headers=headers).status_code == 401


def test_an_authorization_change_for_an_unknown_openid_is_ignored(client, configured, resident):
    response = _post(client, _authorization_xml("user_authorization_revoke", "o-stranger"))
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    db.session.expire_all()
    assert db.session.get(Person, resident.id).openid == OPENID


def test_user_info_modified_is_answered_and_changes_nothing(client, configured, resident):
    response = _post(client, _authorization_xml("user_info_modified", OPENID))
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Person, resident.id).name == "居民甲"


# --- /api/v1/subscriptions ------------------------------------------------------------------


def test_subscriptions_accept_adds_one_each_time_and_ban_clears(client, app_ctx):
    headers = auth_headers(client, openid="resident-sub")
    for expected in (1, 2):
        response = client.post("/api/v1/subscriptions", json={"results": {"T-A": "accept", "T-B": "reject"}}, headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["remaining"] == {"T-A": expected, "T-B": 0}
    banned = client.post(
        "/api/v1/subscriptions",
        json={"results": {"errMsg": "requestSubscribeMessage:ok", "T-A": "ban"}},
        headers=headers,
    )
    assert banned.get_json()["remaining"] == {"T-A": 0}
    person_id = db.session.query(Person.id).filter_by(openid="resident-sub").scalar()
    assert remaining_consent(person_id, "T-A") == 0


def test_subscriptions_need_login(client, app_ctx):
    assert client.post("/api/v1/subscriptions", json={"results": {"T": "accept"}}).status_code == 401


# --- the whole loop of an image check -----------------------------------------------------------


def test_upload_asks_wechat_to_check_the_photo_and_the_verdict_hides_it(client, configured, wechat_http, app_ctx):
    """The whole loop: upload → mediaCheckAsync with a URL WeChat can fetch → risky verdict."""
    # The access token, whichever of WeChat's endpoints the gateway asks (cgi-bin/token is
    # mocked by the fixture).
    wechat_http.post(
        "https://api.weixin.qq.com/cgi-bin/stable_token", json={"access_token": "TOKEN", "expires_in": 7200}
    )
    wechat_http.post(
        "https://api.weixin.qq.com/wxa/media_check_async",
        json={"errcode": 0, "errmsg": "ok", "trace_id": "trace-upload-1"},
    )
    headers = auth_headers(client, openid="resident-upload-check")
    photo_id = upload_photo(client, headers)
    sent = [c.request for c in wechat_http.calls if "media_check_async" in c.request.url]
    assert len(sent) == 1
    body = json.loads(sent[0].body)
    assert body["openid"] == "resident-upload-check" and body["version"] == 2
    fetched = client.get(body["media_url"].replace("https://grid.example.cn", ""))
    assert fetched.status_code == 200 and fetched.mimetype == "image/jpeg"
    assert client.get(f"/wechat/media/{photo_id}/wrongtoken").status_code == 404
    assert db.session.get(Photo, photo_id).check_trace_id == "trace-upload-1"

    _post(client, _media_check_xml("trace-upload-1", "risky"))
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).is_hidden is True


def test_upload_is_kept_when_wechat_check_is_unreachable(client, configured, wechat_http, app_ctx):
    import requests as requests_lib

    wechat_http.post("https://api.weixin.qq.com/wxa/media_check_async", body=requests_lib.ConnectionError("down"))
    photo_id = upload_photo(client, auth_headers(client, openid="resident-upload-down"))
    photo = db.session.get(Photo, photo_id)
    assert photo.check_trace_id is None and photo.is_hidden is False
