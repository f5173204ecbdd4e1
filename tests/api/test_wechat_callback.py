"""/wechat/callback (WeChat's pushes) and /api/v1/subscriptions (the mini-program's consents)."""
from __future__ import annotations

import base64
import json
import time

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from tests.factories import auth_headers, make_person, make_registry, submit, upload_photo
from webapp.extensions import db
from webapp.notifications.subscriptions import remaining_consent
from webapp.people.models import Person
from webapp.tickets.models import Photo, Ticket
from webapp.wechat_callback import signature_of

TOKEN = "callback-token"
APPID = "wx-test-app"
AES_KEY = base64.b64encode(b"k" * 32).decode().rstrip("=")
OPENID = "o-resident-cb"


@pytest.fixture
def configured(app, monkeypatch):
    monkeypatch.setitem(app.config, "WECHAT_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "WECHAT_AES_KEY", AES_KEY)
    monkeypatch.setitem(app.config, "WECHAT_APPID", APPID)
    return app


@pytest.fixture
def resident(app_ctx):
    person = make_person("居民甲", openid=OPENID)
    db.session.commit()
    return person


def _signed(**extra) -> dict:
    timestamp, nonce = str(int(time.time())), "n0nce"
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature_of(TOKEN, timestamp, nonce), **extra}


def _popup_xml(*entries) -> str:
    items = "".join(
        f"<List><TemplateId><![CDATA[{template}]]></TemplateId>"
        f"<SubscribeStatusString><![CDATA[{status}]]></SubscribeStatusString>"
        f"<PopupScene>0</PopupScene></List>"
        for template, status in entries
    )
    return (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>1676138120</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[subscribe_msg_popup_event]]></Event>"
        f"<SubscribeMsgPopupEvent>{items}</SubscribeMsgPopupEvent></xml>"
    )


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


def test_popup_event_counts_each_accepted_template(client, configured, resident):
    response = client.post(
        "/wechat/callback", query_string=_signed(), data=_popup_xml(("T-ACC", "accept"), ("T-REJ", "reject")),
        content_type="text/xml",
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "success"
    assert remaining_consent(resident.id, "T-ACC") == 1
    assert remaining_consent(resident.id, "T-REJ") == 0
    client.post("/wechat/callback", query_string=_signed(), data=_popup_xml(("T-ACC", "accept")))
    assert remaining_consent(resident.id, "T-ACC") == 2


def test_change_event_in_json_turns_the_template_off(client, configured, resident):
    client.post("/wechat/callback", query_string=_signed(), data=_popup_xml(("T-1", "accept")))
    body = {
        "ToUserName": "gh_test", "FromUserName": OPENID, "CreateTime": 1676139264, "MsgType": "event",
        "Event": "subscribe_msg_change_event",
        "SubscribeMsgChangeEvent": {"List": [{"TemplateId": "T-1", "SubscribeStatusString": "reject"}]},
    }
    response = client.post("/wechat/callback", query_string=_signed(), json=body)
    assert response.status_code == 200
    assert remaining_consent(resident.id, "T-1") == 0


def test_safe_mode_message_is_decrypted(client, configured, resident):
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    timestamp, nonce = str(int(time.time())), "n0nce"
    sealed = xmltodict.parse(crypto.encrypt_message(_popup_xml(("T-SAFE", "accept")), nonce, timestamp))["xml"]
    body = f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    query = _signed(encrypt_type="aes", msg_signature=sealed["MsgSignature"])
    query.update(timestamp=timestamp, nonce=nonce, signature=signature_of(TOKEN, timestamp, nonce))
    response = client.post("/wechat/callback", query_string=query, data=body)
    assert response.status_code == 200, response.get_json()
    assert remaining_consent(resident.id, "T-SAFE") == 1

    forged = client.post("/wechat/callback", query_string={**query, "msg_signature": "0" * 40}, data=body)
    assert forged.status_code == 403
    assert remaining_consent(resident.id, "T-SAFE") == 1


def test_safe_mode_json_message_is_decrypted(client, configured, resident):
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    timestamp, nonce = str(int(time.time())), "n0nce"
    inner = json.dumps({
        "ToUserName": "gh_test", "FromUserName": OPENID, "CreateTime": 1, "MsgType": "event",
        "Event": "subscribe_msg_popup_event",
        "SubscribeMsgPopupEvent": [{"TemplateId": "T-JSON", "SubscribeStatusString": "accept", "PopupScene": "0"}],
    })
    sealed = xmltodict.parse(crypto.encrypt_message(inner, nonce, timestamp))["xml"]
    query = {"timestamp": timestamp, "nonce": nonce, "signature": signature_of(TOKEN, timestamp, nonce),
             "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}
    response = client.post("/wechat/callback", query_string=query, json={"ToUserName": "gh_test", "Encrypt": sealed["Encrypt"]})
    assert response.status_code == 200, response.get_json()
    assert remaining_consent(resident.id, "T-JSON") == 1


def test_malformed_body_is_400(client, configured):
    response = client.post("/wechat/callback", query_string=_signed(), data="<xml><unclosed>")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_message"


def _media_check_xml(trace_id: str, suggest: str) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o-x]]></FromUserName>"
        "<CreateTime>1626959646</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[wxa_media_check]]></Event><appid><![CDATA[wx-test-app]]></appid>"
        f"<trace_id><![CDATA[{trace_id}]]></trace_id><version>2</version>"
        f"<detail><strategy><![CDATA[content_model]]></strategy><errcode>0</errcode><suggest><![CDATA[{suggest}]]></suggest>"
        "<label>20002</label><prob>90</prob></detail>"
        f"<errcode>0</errcode><errmsg><![CDATA[ok]]></errmsg><result><suggest><![CDATA[{suggest}]]></suggest>"
        "<label>20002</label></result></xml>"
    )


@pytest.fixture
def ticket_with_photo(client, app_ctx):
    registry = make_registry()
    headers = auth_headers(client, openid="resident-photo")
    photo_id = upload_photo(client, headers)
    ticket_id = submit(client, headers, registry.codes[registry.buildings[0].id], photo_ids=[photo_id]).get_json()["id"]
    photo = db.session.get(Photo, photo_id)
    photo.check_trace_id = "trace-60f96f1d"
    db.session.commit()
    return ticket_id, photo_id


def test_media_check_risky_hides_the_photo_and_flags_the_ticket(client, configured, ticket_with_photo):
    ticket_id, photo_id = ticket_with_photo
    status_before = db.session.get(Ticket, ticket_id).status
    response = client.post("/wechat/callback", query_string=_signed(), data=_media_check_xml("trace-60f96f1d", "risky"))
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).is_hidden is True
    ticket = db.session.get(Ticket, ticket_id)
    assert ticket.needs_review is True
    assert ticket.status == status_before


def test_media_check_pass_changes_nothing(client, configured, ticket_with_photo):
    ticket_id, photo_id = ticket_with_photo
    client.post("/wechat/callback", query_string=_signed(), data=_media_check_xml("trace-60f96f1d", "pass"))
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).is_hidden is False
    assert db.session.get(Ticket, ticket_id).needs_review is False


# --- /api/v1/subscriptions ------------------------------------------------------------------


def test_subscriptions_accept_adds_one_each_time_and_ban_clears(client, app_ctx):
    headers = auth_headers(client, openid="resident-sub")
    for expected in (1, 2):
        response = client.post("/api/v1/subscriptions", json={"results": {"T-A": "accept", "T-B": "reject"}}, headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == {"remaining": {"T-A": expected, "T-B": 0}}
    banned = client.post(
        "/api/v1/subscriptions",
        json={"results": {"errMsg": "requestSubscribeMessage:ok", "T-A": "ban"}},
        headers=headers,
    )
    assert banned.get_json() == {"remaining": {"T-A": 0}}
    person_id = db.session.query(Person.id).filter_by(openid="resident-sub").scalar()
    assert remaining_consent(person_id, "T-A") == 0


def test_subscriptions_need_login_and_known_results(client, app_ctx):
    assert client.post("/api/v1/subscriptions", json={"results": {"T": "accept"}}).status_code == 401
    headers = auth_headers(client, openid="resident-sub")
    response = client.post("/api/v1/subscriptions", json={"results": {"T": "maybe"}}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_upload_asks_wechat_to_check_the_photo_and_the_verdict_hides_it(client, configured, wechat_http, app_ctx):
    """The whole loop: upload → mediaCheckAsync with a URL WeChat can fetch → risky verdict."""
    import json as jsonlib

    from tests.factories import upload_photo

    wechat_http.post(
        "https://api.weixin.qq.com/wxa/media_check_async",
        json={"errcode": 0, "errmsg": "ok", "trace_id": "trace-upload-1"},
    )
    headers = auth_headers(client, openid="resident-upload-check")
    photo_id = upload_photo(client, headers)
    sent = [c.request for c in wechat_http.calls if "media_check_async" in c.request.url]
    assert len(sent) == 1
    body = jsonlib.loads(sent[0].body)
    assert body["openid"] == "resident-upload-check" and body["version"] == 2
    fetched = client.get(body["media_url"].replace("https://grid.example.cn", ""))
    assert fetched.status_code == 200 and fetched.mimetype == "image/jpeg"
    assert client.get(f"/wechat/media/{photo_id}/wrongtoken").status_code == 404
    assert db.session.get(Photo, photo_id).check_trace_id == "trace-upload-1"

    client.post("/wechat/callback", query_string=_signed(), data=_media_check_xml("trace-upload-1", "risky"))
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).is_hidden is True


def test_upload_is_kept_when_wechat_check_is_unreachable(client, configured, wechat_http, app_ctx):
    import requests as requests_lib

    from tests.factories import upload_photo

    wechat_http.post("https://api.weixin.qq.com/wxa/media_check_async", body=requests_lib.ConnectionError("down"))
    photo_id = upload_photo(client, auth_headers(client, openid="resident-upload-down"))
    photo = db.session.get(Photo, photo_id)
    assert photo.check_trace_id is None and photo.is_hidden is False
