"""The WeChat gateway against WeChat's HTTP API, mocked with responses (wechatpy runs for real)."""
from __future__ import annotations

import json
import os
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from wechatpy.session.memorystorage import MemoryStorage

from webapp.errors import Unauthorized, WeChatError, WeChatUnavailable
from webapp.wechat import (
    JSCODE2SESSION_URL,
    MEDIA_CHECK_ASYNC_URL,
    MSG_SEC_CHECK_URL,
    SUBSCRIBE_SEND_URL,
    WeChatGateway,
    get_wechat,
)

TOKEN_URL = "https://api.weixin.qq.com/cgi-bin/token"
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _gateway(storage=None, timeout=3.5) -> WeChatGateway:
    return WeChatGateway("wx-test-app", "s3cret", timeout=timeout, storage=storage or MemoryStorage())


class _Tokens:
    """A token endpoint handing out tok-1, tok-2, ... and counting its calls."""

    def __init__(self) -> None:
        self.issued = 0

    def __call__(self, request):
        self.issued += 1
        return 200, {}, json.dumps({"access_token": f"tok-{self.issued}", "expires_in": 7200})


def _token_of(call) -> str:
    return parse_qs(urlparse(call.request.url).query)["access_token"][0]


def _verdict(suggest: str) -> dict:
    return {"errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": 100}, "trace_id": "t"}


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tokens = _Tokens()
        rsps.add_callback(responses.GET, TOKEN_URL, callback=tokens)
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


def test_token_is_fetched_once_for_many_calls(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    gateway = _gateway()
    for _ in range(3):
        gateway.check_text("openid-1", "你好")
    assert mocked.tokens.issued == 1


def test_expired_token_is_refreshed_once_and_the_call_retried_once(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": 42001, "errmsg": "expired"})
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("risky"))
    assert _gateway().check_text("openid-1", "内容") == "risky"
    calls = [c for c in mocked.calls if c.request.url.startswith(MSG_SEC_CHECK_URL)]
    assert [_token_of(c) for c in calls] == ["tok-1", "tok-2"]
    assert mocked.tokens.issued == 2


def test_a_second_token_error_gives_up_instead_of_looping(mocked):
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json={"errcode": 40001, "errmsg": "invalid credential"})
    with pytest.raises(WeChatError) as caught:
        _gateway().check_text("openid-1", "内容")
    assert caught.value.errcode == 40001
    calls = [c for c in mocked.calls if c.request.url.startswith(MSG_SEC_CHECK_URL)]
    assert len(calls) == 2
    assert mocked.tokens.issued == 2


def test_token_refreshed_by_another_process_is_used_without_fetching(mocked):
    storage = MemoryStorage()
    gateway = _gateway(storage)
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    gateway.check_text("openid-1", "内容")  # tok-1 stored

    def other_process_refreshes(request):
        storage.set("wx-test-app_access_token", "tok-from-elsewhere", 7200)
        return 200, {}, json.dumps({"errcode": 40001, "errmsg": "invalid credential"})

    mocked.remove(responses.POST, MSG_SEC_CHECK_URL)
    mocked.add_callback(responses.POST, MSG_SEC_CHECK_URL, callback=other_process_refreshes)
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("review"))
    assert gateway.check_text("openid-1", "内容") == "review"
    assert _token_of(mocked.calls[-1]) == "tok-from-elsewhere"
    assert mocked.tokens.issued == 1


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


def test_token_endpoint_timeout_raises_wechat_unavailable():
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, TOKEN_URL, body=requests.exceptions.ReadTimeout("slow"))
        with pytest.raises(WeChatUnavailable):
            _gateway().check_text("openid-1", "内容")


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


@pytest.fixture
def redis_url():
    import redis

    client = redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_TEST_URL} under CI: {error}")
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}")
    prefix = f"test-gridreport-{uuid.uuid4().hex[:8]}"
    yield REDIS_TEST_URL, prefix
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_access_token_is_shared_between_processes_through_redis(mocked, redis_url):
    url, prefix = redis_url
    config = {
        "WECHAT_APPID": "wx-test-app",
        "WECHAT_SECRET": "s3cret",
        "WECHAT_TIMEOUT_SECONDS": 2,
        "REDIS_URL": url,
        "WECHAT_TOKEN_PREFIX": prefix,
    }
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("pass"))
    first, second = WeChatGateway.from_config(config), WeChatGateway.from_config(config)
    assert first.client is not second.client
    first.check_text("o-1", "内容")
    second.check_text("o-1", "内容")
    assert mocked.tokens.issued == 1
    assert [_token_of(c) for c in mocked.calls if "msg_sec_check" in c.request.url] == ["tok-1"] * 2
