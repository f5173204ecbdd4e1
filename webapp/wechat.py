"""The one door to WeChat's server API: login, content security and subscribe messages.

Nothing else in the project imports wechatpy's client. Every call goes through WeChatGateway,
obtained with get_wechat() (one per app). wechatpy 1.8.18 is used for the HTTP plumbing of the
calls, with these gaps closed here:

- It sets no HTTP timeout: every request made by the client's session (and the token fetch
  below) gets WECHAT_TIMEOUT_SECONDS.
- Its auto_retry refetches the token and retries without bound on 40001/42001/40014; the client
  is built with auto_retry=False and a call is retried here once, after one replacement of the
  token (see TokenCache.replace).
- Its access token comes from /cgi-bin/token, where every fetch invalidates the previous token
  within minutes, so each process fetching its own breaks the others. The token comes instead
  from WeChat's stable token (getStableAccessToken, POST /cgi-bin/stable_token), fetched by
  TokenCache here and never through wechatpy: in normal mode (force_refresh=false) a fetch
  returns the current token and invalidates nothing. TokenCache keeps the token until shortly
  before it expires, in Redis with REDIS_URL (one token for every gunicorn worker, outbox
  drainer and cron run; production requires it when WeChat is configured) or in process memory
  otherwise, and lets one fetch happen at a time (a redis-py lock, or a threading.Lock) while
  the others wait, then reuse it. Redis is reached with REDIS_TIMEOUT_SECONDS, so a Redis that
  is down or hung fails a call quickly as WeChatUnavailable instead of blocking it.
- Any answer of the token endpoint without a token (an errcode, an HTML page, bytes that are not
  JSON, an HTTP error) is logged and raised as WeChatUnavailable, never left to become a 500.
- It has no v2 content-security calls; a relative URL would go under cgi-bin/, so every call
  here is made with a full URL.

Login (jscode2session) needs no access token. Its errors: 40029/40163 (a bad or used code) are
Unauthorized "log in again"; 40226 (WeChat blocks this user as high-risk) is Forbidden
"wechat_user_blocked", since logging in again cannot help; 45011 (WeChat's rate limit) is
TooManyRequests "wechat_rate_limited" with a Retry-After header.

Without WECHAT_APPID/WECHAT_SECRET the gateway is not configured: login works only through
dev login, check_text answers "pass" without asking anyone (there is nobody to ask; the demo
has no WeChat account), media_check_async returns None, and send_subscribe_message raises
WeChatUnavailable with code "wechat_not_configured".
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple

import redis
import requests
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry
from wechatpy.client import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from webapp.errors import Forbidden, TooManyRequests, Unauthorized, WeChatError, WeChatUnavailable

log = logging.getLogger(__name__)

API = "https://api.weixin.qq.com"
JSCODE2SESSION_URL = f"{API}/sns/jscode2session"
MSG_SEC_CHECK_URL = f"{API}/wxa/msg_sec_check"
MEDIA_CHECK_ASYNC_URL = f"{API}/wxa/media_check_async"
SUBSCRIBE_SEND_URL = f"{API}/cgi-bin/message/subscribe/send"
STABLE_TOKEN_URL = f"{API}/cgi-bin/stable_token"

# The access token is invalid (40001), expired (42001) or not the latest (40014).
TOKEN_ERRCODES = frozenset({40001, 42001, 40014})
# WeChat's "system busy, retry later".
BUSY_ERRCODES = frozenset({-1})
# jscode2session: invalid code (40029), code already used (40163): the client logs in again.
BAD_LOGIN_CODE_ERRCODES = frozenset({40029, 40163})
# jscode2session: WeChat blocks this user as high-risk; logging in again cannot help.
LOGIN_USER_BLOCKED_ERRCODE = 40226
# WeChat's per-minute rate limit of an API ("api minute-quota reach limit").
RATE_LIMITED_ERRCODE = 45011
# Retry-After of a login refused by WeChat's per-minute rate limit.
LOGIN_RETRY_AFTER_SECONDS = 60
USER_REFUSED_SUBSCRIBE = 43101

# The stable access token (getStableAccessToken). WeChat renews it in its last 5 minutes: a
# normal-mode fetch then answers the next token while the old one stays valid until it expires,
# and no answer carries expires_in < 300. A cached token is replaced when fewer than 240 s are
# left: the fetch lands in that renewal window (so it brings the next token while ours still
# works), and a token just fetched is never already due (300 > 240), so no fetch loop.
TOKEN_REFRESH_MARGIN_SECONDS = 240
# An answer without a usable expires_in: assume WeChat's guaranteed minimum.
TOKEN_MIN_LIFETIME_SECONDS = 300
# force_refresh=true invalidates the current token for everyone and WeChat allows 20 a day (and
# refreshes nothing when two come within 30 s): at most one per app per hour here, across
# processes (a marker in the shared store).
FORCE_REFRESH_INTERVAL_SECONDS = 3600
# What the errcodes of the token endpoint mean, for the operators' log.
TOKEN_ERRCODE_HINTS = {
    -1: "WeChat is busy, retry later",
    40002: "invalid grant_type",
    40013: "invalid AppID: check WECHAT_APPID",
    40125: "invalid AppSecret: check WECHAT_SECRET (was it reset in the console?)",
    40164: "this server's outgoing IP is not in the mini-program's IP whitelist",
    40243: "the AppSecret is frozen: unfreeze it in the mini-program's console",
    41002: "appid missing",
    41004: "secret missing",
    45009: "the daily quota of the token endpoint is used up (force_refresh: 20 a day)",
    45011: "the per-minute quota of the token endpoint is used up",
    89503: "this call from a new IP awaits the administrator's confirmation",
}
# Token-endpoint errcodes that pass with time (the others need an operator).
TOKEN_TRANSIENT_ERRCODES = frozenset({-1, 45009, 45011})
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
    """A requests session that gives every request a timeout unless one is set, and sends what
    is addressed to WeChat (API) to api_base instead when one is given (WECHAT_API_BASE)."""

    def __init__(self, timeout: float, api_base: str = "") -> None:
        super().__init__()
        self.default_timeout = timeout
        self.api_base = api_base.rstrip("/")

    def request(self, method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        if self.api_base and isinstance(url, str) and url.startswith(API):
            url = self.api_base + url[len(API):]
        return super().request(method, url, **kwargs)


def redis_client(url: str, timeout: float) -> redis.Redis | None:
    """A Redis client for REDIS_URL (None without one) that never waits on Redis for more than
    `timeout` seconds: to connect, and for each answer. No retries, so a Redis that is down or
    hung fails a call within about twice `timeout`. Nothing is sent until first use."""
    if not url:
        return None
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class _MemoryTokenStore:
    """The token in this process's memory (no REDIS_URL): one fetch at a time per process."""

    def __init__(self) -> None:
        self._entry: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._forced_at: float | None = None

    def read(self) -> tuple[str, float] | None:
        return self._entry

    def write(self, token: str, expires_at: float, lifetime: float) -> None:
        self._entry = (token, expires_at)

    @contextmanager
    def locked(self, wait: float) -> Iterator[bool]:
        held = self._lock.acquire(timeout=wait)
        try:
            yield held
        finally:
            if held:
                self._lock.release()

    def claim_force_refresh(self, now: float, interval: float) -> bool:
        if self._forced_at is not None and now - self._forced_at < interval:
            return False
        self._forced_at = now
        return True


class _RedisTokenStore:
    """The token in Redis, shared by every process; a redis-py lock lets one fetch at a time.

    Keys: <key> holds {"access_token", "expires_at"} (JSON, epoch seconds) and expires with the
    token; <key>:lock is the lock; <key>:forced marks a recent force refresh.
    """

    def __init__(self, client: redis.Redis, key: str, lock_seconds: float) -> None:
        self.client = client
        self.key = key
        self.lock_seconds = lock_seconds

    def read(self) -> tuple[str, float] | None:
        raw = self.client.get(self.key)
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            token, expires_at = entry["access_token"], float(entry["expires_at"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable WeChat access token in Redis at %s", self.key)
            return None
        return (token, expires_at) if isinstance(token, str) and token else None

    def write(self, token: str, expires_at: float, lifetime: float) -> None:
        value = json.dumps({"access_token": token, "expires_at": expires_at})
        self.client.set(self.key, value, ex=max(1, math.ceil(lifetime)))

    @contextmanager
    def locked(self, wait: float) -> Iterator[bool]:
        # timeout: the lock frees itself if its holder dies; blocking_timeout: the bounded wait.
        lock = self.client.lock(
            f"{self.key}:lock", timeout=self.lock_seconds, blocking_timeout=wait
        )
        held = bool(lock.acquire())
        try:
            yield held
        finally:
            if held:
                try:
                    lock.release()
                except redis.RedisError as error:  # it ran out, or Redis went away: it expires
                    log.warning("could not release the WeChat token lock %s: %s", self.key, error)

    def claim_force_refresh(self, now: float, interval: float) -> bool:
        marker = f"{self.key}:forced"
        return bool(self.client.set(marker, str(now), nx=True, ex=max(1, math.ceil(interval))))


class TokenCache:
    """WeChat's access token for one app, fetched with getStableAccessToken and kept until
    shortly before it expires (TOKEN_REFRESH_MARGIN_SECONDS).

    fetch(force_refresh) asks WeChat and returns (access_token, expires_in), raising
    WeChatError / WeChatUnavailable. With a Redis client the token and its expiry live in Redis,
    shared by every process, and a redis-py lock lets one process fetch while the others wait
    and then reuse it; without one they live in this process's memory behind a threading.Lock.
    The wait is bounded (wait_seconds): a waiter that times out fetches anyway, which is safe
    because a normal-mode fetch invalidates nobody's token; the lock only saves calls. A Redis
    error (down, hung past REDIS_TIMEOUT_SECONDS) is logged and raised as WeChatUnavailable.
    """

    def __init__(
        self,
        fetch: Callable[[bool], tuple[str, int]],
        *,
        redis_client: redis.Redis | None = None,
        key: str = "gridreport:wechat:stable_access_token",
        wait_seconds: float = 11.0,
        lock_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self.wait_seconds = wait_seconds
        self._clock = clock
        if redis_client is not None:
            self._store: Any = _RedisTokenStore(redis_client, key, lock_seconds or wait_seconds)
        else:
            self._store = _MemoryTokenStore()

    def get(self) -> str:
        """The current token: the cached one, or one fetched (by one process at a time)."""
        with self._store_errors():
            token = self._cached(TOKEN_REFRESH_MARGIN_SECONDS)
            if token:
                return token
            with self._store.locked(self.wait_seconds) as held:
                if not held:
                    log.warning("waited %.1f s for the WeChat token lock; fetching", self.wait_seconds)
                # Another holder of the lock may have fetched while we waited.
                return self._cached(TOKEN_REFRESH_MARGIN_SECONDS) or self._refresh(force=False)

    def replace(self, refused: str) -> str | None:
        """A token other than `refused`, which WeChat just refused (40001/42001/40014), or None
        when there is none to be had (the caller then gives up with WeChat's error).

        1. If the shared cache already holds another live token (another process has replaced
           it), that one, without asking WeChat.
        2. Otherwise, under the lock (re-reading the cache once it is held), a normal-mode fetch
           (force_refresh=false). It answers whatever token is current now: the next one if
           `refused` was superseded (expired, renewed, or invalidated by a force refresh made
           elsewhere), which covers the usual causes.
        3. Only when that fetch answers the very token just refused is force_refresh=true used,
           once: it invalidates that token for every process (they find the new one in the
           shared cache at step 1 on their next refusal) and WeChat allows 20 a day and
           refreshes nothing when two come within 30 s. So it is done only while holding the
           lock, and at most once per FORCE_REFRESH_INTERVAL_SECONDS for the app across
           processes (a marker in the store); a failure of it (e.g. 45009, the quota) is
           logged and ends in None.
        """
        with self._store_errors():
            token = self._cached(0)
            if token and token != refused:
                return token
            with self._store.locked(self.wait_seconds) as held:
                token = self._cached(0)
                if token and token != refused:
                    return token
                token = self._refresh(force=False)
                if token != refused:
                    return token
                if not held:
                    log.warning("WeChat still hands out the token it refused; no lock, no force")
                    return None
                if not self._store.claim_force_refresh(
                    self._clock(), FORCE_REFRESH_INTERVAL_SECONDS
                ):
                    log.warning(
                        "WeChat still hands out the token it refused, and a force refresh was "
                        "made less than %s s ago; giving up", FORCE_REFRESH_INTERVAL_SECONDS
                    )
                    return None
                log.warning(
                    "WeChat still hands out the token it refused; forcing a new one "
                    "(force_refresh=true, 20 a day)"
                )
                try:
                    token = self._refresh(force=True)
                except WeChatError as error:
                    log.warning("the force refresh of the WeChat token failed: %s", error.errcode)
                    return None
                return token if token != refused else None

    def _cached(self, margin: float) -> str | None:
        entry = self._store.read()
        if entry is not None and entry[1] - self._clock() > margin:
            return entry[0]
        return None

    def _refresh(self, *, force: bool) -> str:
        started = self._clock()  # the expiry counts from before the request: never late
        token, expires_in = self._fetch(force)
        self._store.write(token, started + expires_in, expires_in)
        return token

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as error:
            log.error("Redis failed while reading or storing the WeChat access token: %s", error)
            raise WeChatUnavailable() from error


def _token_answer(response: requests.Response) -> tuple[str, int]:
    """(access_token, expires_in) from the stable-token endpoint's answer, or WeChatUnavailable
    for anything else: an errcode, an HTTP error, an HTML page, bytes that are not JSON."""
    odd = "微信服务返回异常，请稍后再试"
    if response.status_code != 200:
        log.error(
            "WeChat's token endpoint answered HTTP %s: %r", response.status_code, response.content[:200]
        )
        raise WeChatUnavailable(odd)
    try:
        answer = response.json()
    except ValueError:
        log.error("WeChat's token endpoint answered something not JSON: %r", response.content[:200])
        raise WeChatUnavailable(odd) from None
    if not isinstance(answer, dict):
        log.error("WeChat's token endpoint answered a JSON %s, not an object", type(answer).__name__)
        raise WeChatUnavailable(odd)
    errcode = answer.get("errcode")
    if errcode not in (None, 0):
        errmsg = answer.get("errmsg")
        known = isinstance(errcode, int)  # anything else (a list…) is odd but still an error
        hint = TOKEN_ERRCODE_HINTS.get(errcode) if known else None
        hint = hint or "see getStableAccessToken's error codes"
        transient = known and errcode in TOKEN_TRANSIENT_ERRCODES
        level = logging.WARNING if transient else logging.ERROR
        log.log(level, "WeChat refused an access token: errcode %s (%s): %s", errcode, hint, errmsg)
        raise WeChatUnavailable(
            "微信接口调用凭证获取失败，请稍后再试", errcode=errcode, errmsg=errmsg
        )
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        log.error("WeChat's token endpoint answered without an access_token: keys %s", sorted(answer))
        raise WeChatUnavailable(odd)
    expires_in = answer.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        log.warning("WeChat's token came without a usable expires_in (%r)", expires_in)
        expires_in = TOKEN_MIN_LIFETIME_SECONDS
    return token, expires_in


class WeChatGateway:
    """WeChat's server API for one mini-program (appid + secret)."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        timeout: float = 5.0,
        storage=None,
        redis_client: redis.Redis | None = None,
        token_prefix: str = "gridreport:wechat",
        api_base: str = "",
    ) -> None:
        """storage: wechatpy's own session storage (accepted for callers that pass one; the
        access token is not kept there). redis_client: where the access token is shared (see
        redis_client()); None keeps it in this process. token_prefix: its Redis key prefix.
        api_base: where WeChat's API is reached instead of https://api.weixin.qq.com (a
        forwarding proxy, or a local stand-in for WeChat in tests); "" for WeChat itself."""
        self.appid = appid or ""
        self.secret = secret or ""
        self.timeout = timeout
        self.client: WeChatClient | None = None
        self._http = _TimeoutSession(timeout, api_base)
        # A fetch takes at most a connect and a read timeout; waiters wait about that long.
        self.tokens = TokenCache(
            self._fetch_token,
            redis_client=redis_client,
            key=f"{token_prefix}:{self.appid}:stable_access_token",
            wait_seconds=2 * timeout + 1,
        )
        if self.is_configured:
            self.client = WeChatClient(
                self.appid,
                self.secret,
                session=storage if storage is not None else MemoryStorage(),
                timeout=timeout,
                auto_retry=False,
            )
            self.client._http = self._http

    @classmethod
    def from_config(cls, config) -> "WeChatGateway":
        return cls(
            config.get("WECHAT_APPID", ""),
            config.get("WECHAT_SECRET", ""),
            timeout=float(config.get("WECHAT_TIMEOUT_SECONDS", 5)),
            redis_client=redis_client(
                config.get("REDIS_URL", ""), float(config.get("REDIS_TIMEOUT_SECONDS", 2))
            ),
            token_prefix=config.get("WECHAT_TOKEN_PREFIX", "gridreport:wechat"),
            api_base=config.get("WECHAT_API_BASE", ""),
        )

    @property
    def is_configured(self) -> bool:
        return bool(self.appid and self.secret)

    # -- login ------------------------------------------------------------------------------

    def code_to_session(self, js_code: str) -> WeChatSession:
        """Exchange a wx.login() code for the openid and session key (jscode2session).

        Raises Unauthorized for a bad or used code (40029, 40163: the client logs in again),
        Forbidden "wechat_user_blocked" for a user WeChat blocks as high-risk (40226: logging in
        again cannot help), TooManyRequests "wechat_rate_limited" with Retry-After when WeChat's
        per-minute limit is reached (45011), WeChatUnavailable (503) when WeChat cannot be
        reached, is not configured, answers something unreadable or any other errcode.

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
            "access_token": None,  # nosec B105  # no token is sent (see the docstring)
        }
        try:
            result = self._translate(lambda: self.client.get(JSCODE2SESSION_URL, params=params))
        except WeChatError as error:
            if error.errcode in BAD_LOGIN_CODE_ERRCODES:
                raise Unauthorized(
                    "微信登录凭证无效或已过期，请重新登录", code="wechat_code_invalid"
                ) from error
            if error.errcode == LOGIN_USER_BLOCKED_ERRCODE:
                log.info("jscode2session: WeChat blocks this user as high-risk (40226)")
                raise Forbidden(
                    "您的微信账号因存在安全风险，已被微信限制登录。请联系微信客服处理，或稍后再试",
                    code="wechat_user_blocked",
                ) from error
            if error.errcode == RATE_LIMITED_ERRCODE:
                log.warning("jscode2session: WeChat's per-minute rate limit reached (45011)")
                raise TooManyRequests(
                    "登录过于频繁，请稍后再试",
                    code="wechat_rate_limited",
                    headers={"Retry-After": str(LOGIN_RETRY_AFTER_SECONDS)},
                ) from error
            # Any other errcode (e.g. 45009 quota, 40013 bad appid) is WeChat's or the
            # operators' problem, not the resident's: the login's documented 503.
            log.warning("jscode2session refused: errcode %s: %s", error.errcode, error.errmsg)
            raise WeChatUnavailable(errcode=error.errcode, errmsg=error.errmsg) from error
        openid = result.get("openid") if isinstance(result, dict) else None
        if not isinstance(openid, str) or not openid:
            raise WeChatUnavailable("微信登录返回内容异常，请稍后再试")
        session_key, unionid = result.get("session_key"), result.get("unionid")
        return WeChatSession(
            openid,
            session_key if isinstance(session_key, str) else "",
            unionid if isinstance(unionid, str) else None,
        )

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
        verdict = result.get("result")
        suggest = verdict.get("suggest") if isinstance(verdict, dict) else None
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
        trace_id = result.get("trace_id")
        if not isinstance(trace_id, str):
            log.warning("media_check_async answered without a trace_id: %r", result)
            return None
        return trace_id

    # -- subscribe messages -----------------------------------------------------------------

    def send_subscribe_message(
        self,
        openid: str,
        template_id: str,
        data: dict,
        page: str | None = None,
        *,
        miniprogram_state: str | None = None,
        lang: str | None = None,
    ) -> None:
        """Send one subscribe message (subscribeMessage.send).

        data is {"thing1": {"value": "..."}, ...} as the template wants it. miniprogram_state
        is the version the message opens ("developer", "trial" or "formal"; WeChat's default:
        formal) and lang the language of its "进入小程序查看" ("zh_CN", "en_US", "zh_HK",
        "zh_TW"; default zh_CN); each is sent only when given (checked at config load:
        WECHAT_MINIPROGRAM_STATE, WECHAT_MESSAGE_LANG). Returns None when sent. Raises
        WeChatError whose errcode says why not (43101: the user has not subscribed or refused;
        see WeChatError.errcode), WeChatUnavailable when WeChat cannot be reached or is not
        configured (code "wechat_not_configured").
        """
        if not self.is_configured:
            raise WeChatUnavailable("未配置微信小程序，无法发送订阅消息", code="wechat_not_configured")
        payload: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if page:
            payload["page"] = page
        if miniprogram_state:
            payload["miniprogram_state"] = miniprogram_state
        if lang:
            payload["lang"] = lang
        self._post_with_token(SUBSCRIBE_SEND_URL, payload)

    # -- plumbing ---------------------------------------------------------------------------

    def _post_with_token(self, url: str, payload: dict) -> dict:
        """POST with the access token; on a token error (40001/42001/40014) replace the token
        once (TokenCache.replace: another process's newer token, else a normal-mode fetch, and
        only if WeChat still hands out the refused token, one force refresh), retry once, and
        otherwise give up with WeChat's error."""
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

        token = self.tokens.get()
        try:
            return self._translate(lambda: post(token))
        except WeChatError as error:
            if error.errcode not in TOKEN_ERRCODES:
                raise
            log.info("WeChat refused the access token (%s); replacing it once", error.errcode)
            fresh = self.tokens.replace(token)
            if fresh is None:
                raise
        return self._translate(lambda: post(fresh))

    def _fetch_token(self, force_refresh: bool) -> tuple[str, int]:
        """Ask getStableAccessToken for the token: (access_token, expires_in).

        Normal mode (force_refresh=false) answers the current token and invalidates nothing, so
        any process may call it; force_refresh=true invalidates the current token (see
        TokenCache.replace). Raises WeChatUnavailable for any failure, logged; the request
        (which carries the AppSecret) is never logged.
        """
        payload = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret,
            "force_refresh": force_refresh,
        }
        try:
            response = self._http.post(STABLE_TOKEN_URL, json=payload)
        except requests.RequestException as error:
            log.warning("WeChat's token endpoint could not be reached: %s", error)
            raise WeChatUnavailable() from error
        return _token_answer(response)

    @staticmethod
    def _translate(call):
        """Run a wechatpy call; turn its failures into WeChatError / WeChatUnavailable."""
        try:
            return call()
        except requests.RequestException as error:
            raise WeChatUnavailable() from error
        except (TypeError, ValueError) as error:
            # wechatpy's int() of an errcode that is not a number: an answer we cannot read.
            log.error("WeChat answered something unreadable: %s", error)
            raise WeChatUnavailable("微信返回内容异常，请稍后再试") from error
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
