"""/wechat/callback: the address WeChat pushes messages to (消息推送).

Without WECHAT_TOKEN the address does not exist (404). Otherwise every request must pass, in
this order (each refusal is 403 in the contract's error shape, and acts on nothing):

1. the signature: `signature` = sha1 of WECHAT_TOKEN, `timestamp` and `nonce` sorted and joined
   (`bad_signature`);
2. the timestamp window: `timestamp` within WECHAT_PUSH_MAX_AGE_SECONDS (300) of now, either
   way (`stale_push`), on GET as well as POST;
3. POST only, the mode: with WECHAT_AES_KEY set, only safe mode (安全模式, or compatible mode,
   兼容模式) is accepted: `encrypt_type=aes`, a body holding Encrypt, and `msg_signature` (sha1
   of the token, timestamp, nonce and Encrypt) valid (`bad_signature`); the decrypted message
   is the push, any plain fields beside Encrypt are ignored. A plain POST is refused
   (`plaintext_refused`). Without WECHAT_AES_KEY, plain pushes as XML or JSON are accepted and
   an encrypted one is refused (400 `wechat_aes_not_configured`);
4. POST only, retries and replays, remembered in the wechat_pushes table in the transaction
   that acts on the push (webapp.notifications.wechat_events): a push already accepted (the
   same MsgId, or the same FromUserName + CreateTime + event + subject: WeChat's retries) is
   answered "success" and not acted on again; a signed query string already used with another
   push is refused (`replayed_push`). In plain mode the signature covers only the token,
   timestamp and nonce, not the body: without this rule a query string seen in a log would
   carry any body for the whole window. (A replay of an identical push is a retry: "success".)

GET is WeChat's check of the address: `echostr` is echoed back. A POST carries one message,
acted on by the feature it concerns (_act): the consent ledger (subscription events), the
photos (wxa_media_check), the people (user_authorization_revoke / _cancellation: the user is
forgotten, webapp.people.erasure); anything else is ignored. The answer is "success". A push is
either acted on and remembered in one commit, or neither (an error rolls both back, and
WeChat's retry is acted on).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import xmltodict
from flask import Blueprint, Response, current_app, g, request
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from webapp.errors import DomainError, Forbidden, NotFound
from webapp.extensions import db
from webapp.notifications import wechat_events
from webapp.people import erasure
from webapp.photo_store import PhotoStorageUnavailable, send_photo
from webapp.tickets import photos

log = logging.getLogger(__name__)

bp = Blueprint("wechat_callback", __name__, url_prefix="/wechat")


class BadMessage(DomainError):
    status = 400
    code = "bad_message"
    message = "消息格式有误"


@bp.get("/callback")
def verify_address():
    """WeChat checks the address: echo `echostr` when signed and fresh (403 if not)."""
    _check_signature()
    _check_fresh()
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/callback")
def receive_message():
    """One pushed message: verify, decrypt, parse, remember, act, answer "success"."""
    _check_signature()
    _check_fresh()
    message = _read_message()
    if not wechat_events.remember_push(wechat_events.push_key(message)):
        db.session.rollback()
        log.info("wechat push %s/%s repeated: answered, not acted on again",
                 message.get("MsgType"), wechat_events.event_of(message))
        return _success()
    args = request.args
    used = wechat_events.query_key(args.get("timestamp", ""), args.get("nonce", ""), args.get("signature", ""))
    if not wechat_events.remember_push(used):
        db.session.rollback()
        log.warning("wechat push refused: its signed query string was used by another push")
        raise Forbidden("该推送签名已使用过，不予受理", code="replayed_push")
    g.unused_files = []  # photo files the push made unused: deleted once it has committed
    handled = _act(message)
    db.session.commit()
    photos.remove_files(g.unused_files)
    log.info("wechat push %s/%s handled as %s", message.get("MsgType"), wechat_events.event_of(message), handled)
    return _success()


def _success() -> Response:
    return Response("success", mimetype="text/plain")


def _act(message: dict) -> str:
    """Have the feature a push concerns act on it; returns what it was taken for."""
    event = wechat_events.event_of(message)
    if event in wechat_events.SUBSCRIPTION_CONTAINERS:
        wechat_events.apply_subscription_event(message, event)
    elif event == wechat_events.MEDIA_CHECK_EVENT:
        trace_id, verdict = wechat_events.media_check_of(message)
        photos.record_media_check(trace_id, verdict)
    elif event == wechat_events.REVOKE_EVENT:
        scopes = erasure.revoke_scopes(wechat_events.field(message, "RevokeInfo"))
        withdrawal = erasure.withdraw_authorization(wechat_events.authorization_openid(message), scopes)
        if withdrawal is not None and erasure.MEDIA_SCOPE in scopes:
            g.unused_files.extend(photos.forget_photos_of(withdrawal.person_id))
    elif event == wechat_events.CANCELLATION_EVENT:
        erasure.forget_wechat_user(wechat_events.authorization_openid(message), reason=event)
    else:
        return "ignored"
    return event


def _token() -> str:
    token = current_app.config.get("WECHAT_TOKEN") or ""
    if not token:
        raise NotFound("未配置微信消息推送", code="wechat_callback_not_configured")
    return token


def signature_of(*parts: str) -> str:
    """WeChat's signature: sha1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # nosec B324  # SHA-1 is WeChat's protocol


def _check_signature() -> None:
    token = _token()
    args = request.args
    expected = signature_of(token, args.get("timestamp", ""), args.get("nonce", ""))
    if not hmac.compare_digest(expected, args.get("signature", "")):
        raise Forbidden("签名校验失败", code="bad_signature")


def _check_fresh() -> None:
    """The signed timestamp is within WECHAT_PUSH_MAX_AGE_SECONDS of now, either way."""
    max_age = float(current_app.config["WECHAT_PUSH_MAX_AGE_SECONDS"])
    try:
        stamp = int(request.args.get("timestamp", ""))
    except ValueError:
        stamp = None
    if stamp is None or abs(time.time() - stamp) > max_age:
        raise Forbidden("推送已过期或时间不符，不予受理", code="stale_push")


def _read_message() -> dict:
    body = request.get_data(as_text=True) or ""
    safe_mode = request.args.get("encrypt_type", "").lower() == "aes"
    if current_app.config.get("WECHAT_AES_KEY"):
        if not safe_mode:
            raise _plaintext_refused()
        outer = _parse(body)
        if "Encrypt" not in outer:
            raise _plaintext_refused()
        return _parse(_decrypt(outer))
    outer = _parse(body)
    if safe_mode or "Encrypt" in outer:
        raise BadMessage("收到加密消息，但未配置消息加密密钥", code="wechat_aes_not_configured")
    return outer


def _plaintext_refused() -> Forbidden:
    return Forbidden("已启用消息加密，只受理安全模式推送", code="plaintext_refused")


def _decrypt(outer: dict) -> str:
    aes_key = current_app.config.get("WECHAT_AES_KEY") or ""
    args = request.args
    try:
        crypto = WeChatCrypto(_token(), aes_key, current_app.config.get("WECHAT_APPID") or "")
        return crypto.decrypt_message(
            {"Encrypt": outer["Encrypt"]},
            args.get("msg_signature", ""),
            args.get("timestamp", ""),
            args.get("nonce", ""),
        )
    except (InvalidSignatureException, InvalidAppIdException):
        raise Forbidden("签名校验失败", code="bad_signature") from None
    except Exception as error:  # bad base64, padding, key length: not a message of ours
        raise BadMessage("消息解密失败", code="bad_message") from error


def _parse(text: str) -> dict:
    """A message as a dict, from XML (<xml>…</xml>) or JSON."""
    text = text.strip()
    try:
        if text.startswith("{"):
            parsed = json.loads(text)
        else:
            parsed = xmltodict.parse(text, disable_entities=True).get("xml")
    except Exception as error:  # malformed XML or JSON
        raise BadMessage() from error
    if not isinstance(parsed, dict):
        raise BadMessage()
    return parsed


@bp.get("/media/<photo_id>/<token>")
def media_for_check(photo_id: str, token: str):
    """Where WeChat's image checker fetches a photo it was asked to check (a capability URL)."""
    try:
        _, stored = photos.photo_for_media_check(photo_id, token)
        return send_photo(stored, max_age=0)
    except PhotoStorageUnavailable:
        raise  # 503: WeChat's checker may fetch again
    except DomainError:
        return Response(status=404)
