"""The WeChat gateway against WeChat's HTTP API, mocked with responses (wechatpy runs for real).

The access token comes from getStableAccessToken (POST /cgi-bin/stable_token), mocked by
StableTokens below with WeChat's documented semantics. The shared (Redis) cache, the lock and
Redis failures are tested in test_wechat_token.py.
"""
from __future__ import annotations

import json
import logging
import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from webapp.errors import Forbidden, TooManyRequests, Unauthorized, WeChatError, WeChatUnavailable
from webapp.wechat import (
    FORCE_REFRESH_INTERVAL_SECONDS,
    JSCODE2SESSION_URL,
    MEDIA_CHECK_ASYNC_URL,
    MSG_SEC_CHECK_URL,
    STABLE_TOKEN_URL,
    SUBSCRIBE_SEND_URL,
    TOKEN_REFRESH_MARGIN_SECONDS,
    TokenCache,
    WeChatGateway,
    get_wechat,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _gateway(timeout=3.5) -> WeChatGateway:
    return WeChatGateway("wx-test-app", "s3cret", timeout=timeout)


class StableTokens:
    """WeChat's stable token endpoint: normal mode answers the current token (tok-1, tok-2, …),
    force_refresh=true makes a new one current. Counts the calls and records their bodies."""

    def __init__(self) -> None:
        self.generation = 1
        self.bodies: list[dict] = []

    @property
    def current(self) -> str:
        return f"tok-{self.generation}"

    def rotate(self) -> None:
        """WeChat moves on to the next token (renewal, or a force refresh made elsewhere)."""
        self.generation += 1

    @property
    def fetches(self) -> int:
        return len(self.bodies)

    @property
    def forced(self) -> int:
        return sum(1 for body in self.bodies if body["force_refresh"])

    def __call__(self, request):
        body = json.loads(request.body)
        self.bodies.append(body)
        if body["force_refresh"]:
            self.rotate()
        return 200, {}, json.dumps({"access_token": self.current, "expires_in": 7200})


def _token_of(call) -> str:
    return parse_qs(urlparse(call.request.url).query)["access_token"][0]


def _verdict(suggest: str) -> dict:
    return {"errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": 100}, "trace_id": "t"}


def _calls_to(mock, url):
    return [c for c in mock.calls if c.request.url.startswith(url)]


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tokens = StableTokens()
        rsps.add_callback(responses.POST, STABLE_TOKEN_URL, callback=tokens)
        rsps.tokens = tokens
        yield rsps


@pytest.mark.parametrize("suggest", ["pass", "review", "risky"])
def test_check_text_returns_wechat_suggestion(mocked, suggest):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict(suggest))
    assert _gateway().check_text("openid-1", "楼道灯坏了", scene=2) == suggest
    body = json.loads(mocked.calls[-1].request.body)
    assert body == {"openid": "openid-1", "scene": 2, "version": 2, "content": "楼道灯坏了"}


def test_check_text_answer_without_suggest_means_review(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": 0, "errmsg": "ok"})
    assert _gateway().check_text("openid-1", "内容") == "review"


def test_the_token_comes_from_the_stable_token_endpoint_in_normal_mode(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    _gateway().check_text("openid-1", "你好")
    (call,) = _calls_to(mocked, STABLE_TOKEN_URL)
    assert call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {
        "grant_type": "client_credential",
        "appid": "wx-test-app",
        "secret": "s3cret",
        "force_refresh": False,
    }
    assert _token_of(_calls_to(mocked, MSG_SEC_CHECK_URL)[0]) == "tok-1"


def test_token_is_fetched_once_for_many_calls(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    gateway = _gateway()
    for _ in range(3):
        gateway.check_text("openid-1", "你好")
    assert mocked.tokens.fetches == 1


def test_an_expired_token_is_replaced_in_normal_mode_and_the_call_retried_once(mocked):
    gateway = _gateway()
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    gateway.check_text("openid-1", "内容")  # tok-1 cached

    def expired(request):
        mocked.tokens.rotate()  # WeChat has moved on to tok-2
        return 200, {}, json.dumps({"errcode": 42001, "errmsg": "access_token expired"})

    mocked.remove(responses.POST, MSG_SEC_CHECK_URL)
    mocked.add_callback(responses.POST, MSG_SEC_CHECK_URL, callback=expired)
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("risky"))
    assert gateway.check_text("openid-1", "内容") == "risky"
    calls = _calls_to(mocked, MSG_SEC_CHECK_URL)
    assert [_token_of(c) for c in calls] == ["tok-1", "tok-1", "tok-2"]
    assert mocked.tokens.fetches == 2 and mocked.tokens.forced == 0


def test_a_refused_token_wechat_still_hands_out_is_force_refreshed_once(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": 40001, "errmsg": "invalid credential"})
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("review"))
    assert _gateway().check_text("openid-1", "内容") == "review"
    calls = _calls_to(mocked, MSG_SEC_CHECK_URL)
    assert [_token_of(c) for c in calls] == ["tok-1", "tok-2"]
    # normal (tok-1), normal again (still tok-1), then one force refresh (tok-2)
    assert [body["force_refresh"] for body in mocked.tokens.bodies] == [False, False, True]


def test_a_second_token_error_gives_up_instead_of_looping(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": 40001, "errmsg": "invalid credential"})
    gateway = _gateway()
    with pytest.raises(WeChatError) as caught:
        gateway.check_text("openid-1", "内容")
    assert caught.value.errcode == 40001
    assert len(_calls_to(mocked, MSG_SEC_CHECK_URL)) == 2
    assert mocked.tokens.forced == 1
    # The next call meets the same refusal: no second force refresh within the interval.
    with pytest.raises(WeChatError) as caught:
        gateway.check_text("openid-1", "内容")
    assert caught.value.errcode == 40001
    assert len(_calls_to(mocked, MSG_SEC_CHECK_URL)) == 3  # refused, and not retried
    assert mocked.tokens.forced == 1
    assert FORCE_REFRESH_INTERVAL_SECONDS >= 3600


def test_a_failed_force_refresh_gives_up_with_wechats_error(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": 40001, "errmsg": "invalid credential"})
    mocked.remove(responses.POST, STABLE_TOKEN_URL)
    mocked.add(responses.POST, STABLE_TOKEN_URL, json={"access_token": "tok-1", "expires_in": 7200})
    mocked.add(responses.POST, STABLE_TOKEN_URL, json={"access_token": "tok-1", "expires_in": 7200})
    mocked.add(responses.POST, STABLE_TOKEN_URL, json={"errcode": 45009, "errmsg": "reach max api daily quota limit"})
    with pytest.raises(WeChatError) as caught:
        _gateway().check_text("openid-1", "内容")
    assert caught.value.errcode == 40001
    assert len(_calls_to(mocked, STABLE_TOKEN_URL)) == 3


def test_every_request_carries_the_configured_timeout(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    _gateway(timeout=2.5).check_text("openid-1", "内容")
    assert [c.request.req_kwargs["timeout"] for c in mocked.calls] == [2.5, 2.5]  # token, check


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ConnectTimeout("slow"), requests.exceptions.ConnectionError("down")],
)
def test_unreachable_wechat_raises_wechat_unavailable(mocked, failure):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, body=failure)
    with pytest.raises(WeChatUnavailable) as caught:
        _gateway().check_text("openid-1", "内容")
    assert caught.value.status == 503 and caught.value.code == "wechat_unavailable"


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout("slow"), requests.exceptions.ConnectionError("down")],
)
def test_token_endpoint_unreachable_raises_wechat_unavailable(failure):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, STABLE_TOKEN_URL, body=failure)
        with pytest.raises(WeChatUnavailable) as caught:
            _gateway().check_text("openid-1", "内容")
    assert caught.value.status == 503 and CHINESE.search(caught.value.message)


ODD_TOKEN_ANSWERS = {
    "empty object": dict(json={}),
    "errcode 40013 invalid appid": dict(json={"errcode": 40013, "errmsg": "invalid appid"}),
    "errcode 40125 invalid appsecret": dict(json={"errcode": 40125, "errmsg": "invalid appsecret"}),
    "errcode 40164 ip not whitelisted": dict(
        json={"errcode": 40164, "errmsg": "invalid ip 1.2.3.4, not in whitelist"}
    ),
    "errcode 45009 quota": dict(json={"errcode": 45009, "errmsg": "reach max api daily quota limit"}),
    "errcode -1 busy": dict(json={"errcode": -1, "errmsg": "system error"}),
    "errcode 0 without token": dict(json={"errcode": 0, "errmsg": "ok"}),
    "empty token": dict(json={"access_token": "", "expires_in": 7200}),
    "token not a string": dict(json={"access_token": 12345, "expires_in": 7200}),
    "JSON list": dict(json=[{"access_token": "tok"}]),
    "errcode not a number": dict(json={"errcode": [40013], "errmsg": "odd"}),
    "HTML page": dict(
        body="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"
    ),
    "garbage bytes": dict(body=b"\xff\xfe\x00\x81garbage\x9c", content_type="application/json"),
    "HTTP 502": dict(status=502, body="Bad Gateway"),
    "HTTP 500 with a token": dict(status=500, json={"access_token": "tok", "expires_in": 7200}),
}


@pytest.mark.parametrize("answer", ODD_TOKEN_ANSWERS.values(), ids=ODD_TOKEN_ANSWERS.keys())
def test_an_odd_token_answer_is_a_logged_wechat_unavailable(answer, caplog):
    caplog.set_level(logging.WARNING, logger="webapp.wechat")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, STABLE_TOKEN_URL, **answer)
        send = rsps.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
        with pytest.raises(WeChatUnavailable) as caught:
            _gateway().check_text("openid-1", "内容")
        assert send.call_count == 0
    error = caught.value
    assert error.status == 503 and CHINESE.search(error.message)
    sent = answer.get("json")
    if isinstance(sent, dict) and sent.get("errcode") not in (None, 0):
        assert error.errcode == sent["errcode"]
    records = [r for r in caplog.records if r.name == "webapp.wechat" and r.levelno >= logging.WARNING]
    assert records, "the odd answer is logged"
    assert "s3cret" not in caplog.text  # the request carries the AppSecret: never logged


def test_an_ip_not_in_the_whitelist_is_logged_for_the_operators(caplog):
    caplog.set_level(logging.WARNING, logger="webapp.wechat")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, STABLE_TOKEN_URL, json={"errcode": 40164, "errmsg": "invalid ip"})
        with pytest.raises(WeChatUnavailable):
            _gateway().media_check_async("o-1", "https://grid.example.cn/p/1.jpg")
    (record,) = [r for r in caplog.records if "40164" in r.getMessage()]
    assert record.levelno == logging.ERROR and "whitelist" in record.getMessage()


def test_a_failed_token_fetch_is_not_cached(mocked):
    mocked.remove(responses.POST, STABLE_TOKEN_URL)
    mocked.add(responses.POST, STABLE_TOKEN_URL, body="<html>oops</html>", content_type="text/html")
    mocked.add(responses.POST, STABLE_TOKEN_URL, json={"access_token": "tok-ok", "expires_in": 7200})
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    gateway = _gateway()
    with pytest.raises(WeChatUnavailable):
        gateway.check_text("openid-1", "内容")
    assert gateway.check_text("openid-1", "内容") == "pass"
    assert _token_of(_calls_to(mocked, MSG_SEC_CHECK_URL)[-1]) == "tok-ok"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_cached_token_is_replaced_a_little_before_it_expires():
    clock = _Clock()
    answers = iter([("tok-1", 7200), ("tok-2", 7200)])
    cache = TokenCache(lambda force: next(answers), clock=clock)
    assert cache.get() == "tok-1"
    clock.now += 7200 - TOKEN_REFRESH_MARGIN_SECONDS - 1
    assert cache.get() == "tok-1"  # still more than the margin left
    clock.now += 2
    assert cache.get() == "tok-2"  # within the margin: the next token, while tok-1 still works


def test_a_token_with_the_shortest_lifetime_wechat_gives_is_not_refetched_at_once():
    clock = _Clock()
    fetched = []

    def fetch(force):
        fetched.append(force)
        return "tok-1", 300  # WeChat never answers less than 300 s

    cache = TokenCache(fetch, clock=clock)
    assert cache.get() == cache.get() == "tok-1"
    assert fetched == [False]


def test_a_token_without_expires_in_is_kept_for_the_minimum_lifetime(mocked):
    mocked.remove(responses.POST, STABLE_TOKEN_URL)
    mocked.add(responses.POST, STABLE_TOKEN_URL, json={"access_token": "tok-x"})
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    assert _gateway().check_text("openid-1", "内容") == "pass"
    assert _token_of(_calls_to(mocked, MSG_SEC_CHECK_URL)[-1]) == "tok-x"


def test_wechat_server_error_and_busy_raise_wechat_unavailable(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, status=502)
    with pytest.raises(WeChatUnavailable):
        _gateway().check_text("openid-1", "内容")
    mocked.replace(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": -1, "errmsg": "system busy"})
    with pytest.raises(WeChatUnavailable):
        _gateway().check_text("openid-1", "内容")


def test_code_to_session_returns_openid_and_needs_no_access_token():
    with responses.RequestsMock() as rsps:  # no token endpoint: calling it would fail the test
        rsps.add(
            responses.GET,
            JSCODE2SESSION_URL,
            json={"openid": "o-123", "session_key": "sk==", "unionid": "u-9"},
        )
        openid, session_key, unionid = _gateway().code_to_session("code-abc")
        query = parse_qs(urlparse(rsps.calls[0].request.url).query)
        timeout = rsps.calls[0].request.req_kwargs["timeout"]
    assert (openid, session_key, unionid) == ("o-123", "sk==", "u-9")
    assert query["js_code"] == ["code-abc"] and "access_token" not in query
    assert timeout == 3.5


@pytest.mark.parametrize("errcode", [40029, 40163])
def test_code_to_session_with_a_bad_code_is_unauthorized(errcode):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, JSCODE2SESSION_URL, json={"errcode": errcode, "errmsg": "invalid code"})
        with pytest.raises(Unauthorized) as caught:
            _gateway().code_to_session("bad")
    assert caught.value.code == "wechat_code_invalid"
    assert "登录" in caught.value.message


def test_code_to_session_for_a_user_wechat_blocks_is_forbidden_not_log_in_again():
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, JSCODE2SESSION_URL, json={"errcode": 40226, "errmsg": "code blocked"})
        with pytest.raises(Forbidden) as caught:
            _gateway().code_to_session("code")
    assert caught.value.status == 403 and caught.value.code == "wechat_user_blocked"
    assert "重新登录" not in caught.value.message and "微信" in caught.value.message


def test_code_to_session_over_wechats_rate_limit_is_429_with_retry_after():
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            JSCODE2SESSION_URL,
            json={"errcode": 45011, "errmsg": "api minute-quota reach limit  mustslower  retry next minute"},
        )
        with pytest.raises(TooManyRequests) as caught:
            _gateway().code_to_session("code")
    assert caught.value.status == 429 and caught.value.code == "wechat_rate_limited"
    assert caught.value.message == "登录过于频繁，请稍后再试"
    assert caught.value.headers == {"Retry-After": "60"}


def test_subscribe_message_refused_exposes_errcode(mocked):
    mocked.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 43101, "errmsg": "user refuse"})
    with pytest.raises(WeChatError) as caught:
        _gateway().send_subscribe_message(
            "o-1", "tmpl-1", {"thing1": {"value": "楼道照明"}}, page="pages/ticket?id=x"
        )
    assert caught.value.errcode == 43101
    body = json.loads(mocked.calls[-1].request.body)
    assert body["touser"] == "o-1" and body["page"] == "pages/ticket?id=x"
    assert body["data"] == {"thing1": {"value": "楼道照明"}}


def test_subscribe_message_sent(mocked):
    mocked.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    assert _gateway().send_subscribe_message("o-1", "tmpl-1", {}) is None


def test_media_check_async_returns_trace_id(mocked):
    mocked.add(responses.POST, MEDIA_CHECK_ASYNC_URL, json={"errcode": 0, "trace_id": "trace-7"})
    assert _gateway().media_check_async("o-1", "https://grid.example.cn/p/1.jpg") == "trace-7"
    body = json.loads(mocked.calls[-1].request.body)
    assert body["version"] == 2 and body["media_type"] == 2 and body["openid"] == "o-1"


def test_unconfigured_gateway_skips_checks_and_refuses_login():
    gateway = WeChatGateway("", "")
    assert gateway.is_configured is False
    with responses.RequestsMock():  # any HTTP call would fail
        assert gateway.check_text("o-1", "内容") == "pass"
        assert gateway.media_check_async("o-1", "https://x/1.jpg") is None
        with pytest.raises(WeChatUnavailable) as caught:
            gateway.code_to_session("code")
        assert caught.value.code == "wechat_not_configured"
        with pytest.raises(WeChatUnavailable):
            gateway.send_subscribe_message("o-1", "t", {})


def test_get_wechat_is_built_once_per_app_from_config(app_ctx):
    gateway = get_wechat()
    assert get_wechat() is gateway
    assert gateway.is_configured is False  # the test config has no credentials
    assert app_ctx.extensions["wechat"] is gateway
