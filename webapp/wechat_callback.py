"""/wechat/callback: the address WeChat pushes messages to (消息推送).

GET is WeChat's check of the address: a valid signature gets `echostr` back. POST carries one
message, in XML or JSON (the mini-program's push settings choose), plain or in safe mode
(encrypt_type=aes: the body holds Encrypt, signed by msg_signature, decrypted with
WECHAT_AES_KEY). Every request must be signed with WECHAT_TOKEN; a bad signature answers 403.
Without WECHAT_TOKEN the address does not exist (404). The answer to a message is "success".

WeChat retries a push it got no answer to within 5 seconds, up to three times; handling is
quick, and a repeated subscription "accept" only over-counts the consent ledger (see
webapp.notifications.subscriptions for why that is harmless).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging

import xmltodict
from flask import Blueprint, Response, current_app, request
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

from webapp.errors import DomainError, Forbidden, NotFound
from webapp.extensions import db
from webapp.notifications import wechat_events

log = logging.getLogger(__name__)

bp = Blueprint("wechat_callback", __name__, url_prefix="/wechat")


class BadMessage(DomainError):
    status = 400
    code = "bad_message"
    message = "消息格式有误"


@bp.get("/callback")
def verify_address():
    """WeChat checks the address: echo `echostr` when the signature is good (403 if not)."""
    _check_signature()
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/callback")
def receive_message():
    """One pushed message: verify, decrypt, parse, act, answer "success"."""
    _check_signature()
    message = _read_message()
    handled = wechat_events.handle_message(message)
    db.session.commit()
    log.info("wechat push %s/%s handled as %s", message.get("MsgType"), message.get("Event"), handled)
    return Response("success", mimetype="text/plain")


def _token() -> str:
    token = current_app.config.get("WECHAT_TOKEN") or ""
    if not token:
        raise NotFound("未配置微信消息推送", code="wechat_callback_not_configured")
    return token


def signature_of(*parts: str) -> str:
    """WeChat's signature: sha1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def _check_signature() -> None:
    token = _token()
    args = request.args
    expected = signature_of(token, args.get("timestamp", ""), args.get("nonce", ""))
    if not hmac.compare_digest(expected, args.get("signature", "")):
        raise Forbidden("签名校验失败", code="bad_signature")


def _read_message() -> dict:
    body = request.get_data(as_text=True) or ""
    outer = _parse(body)
    encrypted = request.args.get("encrypt_type", "").lower() == "aes" or "Encrypt" in outer
    if not encrypted:
        return outer
    return _parse(_decrypt(outer))


def _decrypt(outer: dict) -> str:
    aes_key = current_app.config.get("WECHAT_AES_KEY") or ""
    if not aes_key or "Encrypt" not in outer:
        raise BadMessage("收到加密消息，但未配置消息加密密钥", code="wechat_aes_not_configured")
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
    from flask import send_file

    from webapp.tickets.photos import photo_for_media_check

    try:
        photo, path = photo_for_media_check(photo_id, token)
    except DomainError:
        return Response(status=404)
    return send_file(path, mimetype=photo.content_type, max_age=0)
