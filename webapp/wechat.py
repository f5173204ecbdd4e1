"""The one door to WeChat's server API: login, content security and subscribe messages.

Nothing else in the project imports wechatpy's client. Every call goes through WeChatGateway,
obtained with get_wechat() (one per app). wechatpy 1.8.18 is used for the HTTP plumbing and the
access token, with these gaps closed here:

- It sets no HTTP timeout (and none at all when fetching the access token): every request made
  by the client's session gets WECHAT_TIMEOUT_SECONDS.
- Its auto_retry refetches the token and retries without bound on 40001/42001/40014; the client
  is built with auto_retry=False and a call is retried here once, after one refresh.
- It keeps the access token per process unless given a shared storage: with REDIS_URL the
  token is shared by every process through Redis (MemoryStorage otherwise).
- It has no v2 content-security calls; a relative URL would go under cgi-bin/, so every call
  here is made with a full URL.

Without WECHAT_APPID/WECHAT_SECRET the gateway is not configured: login works only through
dev login, check_text answers "pass" without asking anyone (there is nobody to ask; the demo
has no WeChat account), media_check_async returns None, and send_subscribe_message raises
WeChatUnavailable with code "wechat_not_configured".
"""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

import redis
import requests
from flask import Flask, current_app
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from webapp.errors import Unauthorized, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

API = "https://api.weixin.qq.com"
JSCODE2SESSION_URL = f"{API}/sns/jscode2session"
MSG_SEC_CHECK_URL = f"{API}/wxa/msg_sec_check"
MEDIA_CHECK_ASYNC_URL = f"{API}/wxa/media_check_async"
SUBSCRIBE_SEND_URL = f"{API}/cgi-bin/message/subscribe/send"

# The access token is invalid (40001), expired (42001) or not the latest (40014).
TOKEN_ERRCODES = frozenset({40001, 42001, 40014})
# WeChat's "system busy, retry later".
BUSY_ERRCODES = frozenset({-1})
# jscode2session: invalid code (40029), code already used (40163), blocked high-risk user (40226).
BAD_LOGIN_CODE_ERRCODES = frozenset({40029, 40163, 40226})
USER_REFUSED_SUBSCRIBE = 43101
# WeChatUnavailable.code when a request timed out after it was sent: it may have taken effect.
OUTCOME_UNKNOWN_CODE = "wechat_outcome_unknown"

SUGGESTIONS = ("pass", "review", "risky")
MSG_SEC_CHECK_MAX_CHARS = 2500
EXTENSION_KEY = "wechat"


class WeChatSession(NamedTuple):
    """What jscode2session tells us about the person who called wx.login()."""

    openid: str
    session_key: str
    unionid: str | None = None


class _TimeoutSession(requests.Session):
    """A requests session that gives every request a timeout unless one is set."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, **kwargs)


def _token_storage(redis_url: str, prefix: str):
    if not redis_url:
        return MemoryStorage()
    from wechatpy.session.redisstorage import RedisStorage

    return RedisStorage(redis.from_url(redis_url), prefix=prefix)


class WeChatGateway:
    """WeChat's server API for one mini-program (appid + secret)."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        timeout: float = 5.0,
        storage=None,
    ) -> None:
        self.appid = appid or ""
        self.secret = secret or ""
        self.timeout = timeout
        self.client: WeChatClient | None = None
        if self.is_configured:
            self.client = WeChatClient(
                self.appid,
                self.secret,
                session=storage if storage is not None else MemoryStorage(),
                timeout=timeout,
                auto_retry=False,
            )
            self.client._http = _TimeoutSession(timeout)

    @classmethod
    def from_config(cls, config) -> "WeChatGateway":
        return cls(
            config.get("WECHAT_APPID", ""),
            config.get("WECHAT_SECRET", ""),
            timeout=float(config.get("WECHAT_TIMEOUT_SECONDS", 5)),
            storage=_token_storage(
                config.get("REDIS_URL", ""), config.get("WECHAT_TOKEN_PREFIX", "gridreport:wechat")
            ),
        )

    @property
    def is_configured(self) -> bool:
        return bool(self.appid and self.secret)

    # -- login ------------------------------------------------------------------------------

    def code_to_session(self, js_code: str) -> WeChatSession:
        """Exchange a wx.login() code for the openid and session key (jscode2session).

        Raises Unauthorized for a bad, used or blocked code, WeChatUnavailable when WeChat
        cannot be reached or is not configured, WeChatError for any other WeChat error.

        Called with a full URL and access_token=None rather than through
        client.wxa.code_to_session: that one adds an access token to the query, so a login
        would first fetch a token it does not need (requests drops None-valued params).
        """
        if not self.is_configured:
            raise WeChatUnavailable("未配置微信登录", code="wechat_not_configured")
        params = {
            "appid": self.appid,
            "secret": self.secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
            "access_token": None,
        }
        try:
            result = self._translate(lambda: self.client.get(JSCODE2SESSION_URL, params=params))
        except WeChatError as error:
            if error.errcode in BAD_LOGIN_CODE_ERRCODES:
                raise Unauthorized(
                    "微信登录凭证无效或已过期，请重新登录", code="wechat_code_invalid"
                ) from error
            raise
        if not isinstance(result, dict) or not result.get("openid"):
            raise WeChatUnavailable("微信登录返回内容异常，请稍后再试")
        return WeChatSession(result["openid"], result.get("session_key", ""), result.get("unionid"))

    # -- content security -------------------------------------------------------------------

    def check_text(self, openid: str, content: str, scene: int = 1) -> str:
        """Ask msgSecCheck (v2) about a text: "pass", "review" or "risky".

        scene: 1 profile, 2 comment, 3 forum, 4 social log. Answers "pass" without asking when
        WeChat is not configured (the demo). Raises WeChatUnavailable when WeChat cannot be
        reached and WeChatError on other WeChat errors (e.g. 40003, an openid WeChat does not
        know): callers mark the content for human review on either.
        """
        if not self.is_configured:
            return "pass"
        result = self._post_with_token(
            MSG_SEC_CHECK_URL,
            {
                "openid": openid,
                "scene": scene,
                "version": 2,
                "content": content[:MSG_SEC_CHECK_MAX_CHARS],
            },
        )
        suggest = (result.get("result") or {}).get("suggest")
        if suggest not in SUGGESTIONS:
            log.warning("msg_sec_check answered without a known suggest: %r", result)
            return "review"
        return suggest

    def media_check_async(self, openid: str, media_url: str, scene: int = 1) -> str | None:
        """Submit an image URL to mediaCheckAsync (v2); returns WeChat's trace_id.

        The verdict arrives later as a wxa_media_check event pushed to our server. Returns
        None when WeChat is not configured. Raises WeChatUnavailable / WeChatError.
        """
        if not self.is_configured:
            return None
        result = self._post_with_token(
            MEDIA_CHECK_ASYNC_URL,
            {
                "media_url": media_url,
                "media_type": 2,  # image
                "version": 2,
                "openid": openid,
                "scene": scene,
            },
        )
        return result.get("trace_id")

    # -- subscribe messages -----------------------------------------------------------------

    def send_subscribe_message(
        self, openid: str, template_id: str, data: dict, page: str | None = None
    ) -> None:
        """Send one subscribe message (subscribeMessage.send).

        data is {"thing1": {"value": "..."}, ...} as the template wants it. Returns None when
        sent. Raises WeChatError whose errcode says why not (43101: the user has not subscribed
        or refused; see WeChatError.errcode), WeChatUnavailable when WeChat cannot be reached
        or is not configured (code "wechat_not_configured").
        """
        if not self.is_configured:
            raise WeChatUnavailable("未配置微信小程序，无法发送订阅消息", code="wechat_not_configured")
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if page:
            payload["page"] = page
        self._post_with_token(SUBSCRIBE_SEND_URL, payload)

    # -- plumbing ---------------------------------------------------------------------------

    def _post_with_token(self, url: str, payload: dict) -> dict:
        """POST with the access token; on a token error refresh once, retry once, give up."""
        client = self.client

        def post(token: str) -> dict:
            try:
                result = client.post(url, params={"access_token": token}, data=payload)
            except requests.ReadTimeout as error:
                # The request went out; WeChat may have acted on it (e.g. sent the message).
                raise WeChatUnavailable(
                    "微信响应超时，结果未知", code=OUTCOME_UNKNOWN_CODE
                ) from error
            if not isinstance(result, dict):  # wechatpy hands back a response it cannot decode
                raise WeChatUnavailable("微信返回内容异常，请稍后再试")
            return result

        token = self._translate(lambda: client.access_token)
        try:
            return self._translate(lambda: post(token))
        except WeChatError as error:
            if error.errcode not in TOKEN_ERRCODES:
                raise
            log.info("WeChat refused the access token (%s); refreshing once", error.errcode)
        # Another process may already have refreshed the shared token: use theirs if so.
        fresh = client.session.get(client.access_token_key)
        if not fresh or fresh == token:
            self._translate(client.fetch_access_token)
            fresh = client.session.get(client.access_token_key)
        return self._translate(lambda: post(fresh))

    @staticmethod
    def _translate(call):
        """Run a wechatpy call; turn its failures into WeChatError / WeChatUnavailable."""
        try:
            return call()
        except (requests.RequestException, redis.RedisError) as error:
            # redis: the shared access token could not be read or written.
            raise WeChatUnavailable() from error
        except WeChatClientException as error:
            if error.errcode is None or error.errcode in BUSY_ERRCODES:
                raise WeChatUnavailable(errcode=error.errcode, errmsg=error.errmsg) from error
            raise WeChatError(errcode=error.errcode, errmsg=error.errmsg) from error


def init_wechat(app: Flask, gateway: WeChatGateway | None = None) -> WeChatGateway:
    """Put a gateway on the app (tests may pass their own); built lazily otherwise."""
    gateway = gateway or WeChatGateway.from_config(app.config)
    app.extensions[EXTENSION_KEY] = gateway
    return gateway


def get_wechat() -> WeChatGateway:
    """The current app's gateway, built from its config on first use (no network until then)."""
    app = current_app._get_current_object()
    gateway = app.extensions.get(EXTENSION_KEY)
    if gateway is None:
        gateway = init_wechat(app)
    return gateway
