"""WeChat's access token shared by every process: the cache (Redis or memory), its lock, Redis
failures, and production's refusal to run WeChat without Redis.

The Redis tests use the server at TEST_REDIS_URL (default redis://127.0.0.1:6379/15), each
under a key prefix of its own, removed afterwards. Without a reachable Redis they are skipped,
except under CI (CI=true), where they fail.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from tests.webapp.threads import in_own_thread
from webapp import create_app
from webapp.config import ProductionConfig
from webapp.errors import WeChatUnavailable
from webapp.wechat import MSG_SEC_CHECK_URL, STABLE_TOKEN_URL, WeChatGateway, redis_client

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
THREADS = 8


class SlowStableTokens:
    """The stable token endpoint, answering the current token after a pause (so that
    concurrent callers really overlap) and counting its calls."""

    def __init__(self, pause: float = 0.3) -> None:
        self.pause = pause
        self.generation = 1
        self.bodies: list[dict] = []
        self._lock = threading.Lock()

    @property
    def current(self) -> str:
        return f"tok-{self.generation}"

    def rotate(self) -> None:
        self.generation += 1

    def __call__(self, request):
        body = json.loads(request.body)
        with self._lock:
            self.bodies.append(body)
        time.sleep(self.pause)
        if body["force_refresh"]:
            self.rotate()
        return 200, {}, json.dumps({"access_token": self.current, "expires_in": 7200})


def _verdict(suggest: str = "pass") -> dict:
    return {"errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": 100}}


def _token_of(call) -> str:
    return parse_qs(urlparse(call.request.url).query)["access_token"][0]


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tokens = SlowStableTokens()
        rsps.add_callback(responses.POST, STABLE_TOKEN_URL, callback=tokens)
        rsps.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict())
        rsps.tokens = tokens
        yield rsps


@pytest.fixture
def redis_url():
    """(url, prefix): a reachable Redis and a key prefix of this test's own, cleaned up."""
    import redis

    client = redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        if IN_CI:
            pytest.fail(f"Redis is not reachable at {REDIS_TEST_URL} under CI: {error}")
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}")
    prefix = f"test-gridreport-{uuid.uuid4().hex[:10]}"
    yield REDIS_TEST_URL, prefix
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)
    client.close()


def _config(url: str = "", prefix: str = "gridreport:wechat", timeout: float = 2) -> dict:
    return {
        "WECHAT_APPID": "wx-test-app",
        "WECHAT_SECRET": "s3cret",
        "WECHAT_TIMEOUT_SECONDS": 2,
        "REDIS_URL": url,
        "REDIS_TIMEOUT_SECONDS": timeout,
        "WECHAT_TOKEN_PREFIX": prefix,
    }


def _all_at_once(calls) -> list:
    """Run each callable in its own thread, released together; the results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - reported by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a call never returned"
    return results


# --- one fetch for everyone ---------------------------------------------------------------------


def test_threads_of_one_process_on_a_cold_cache_make_one_token_fetch(mocked):
    gateway = WeChatGateway.from_config(_config())  # no REDIS_URL: memory and a threading.Lock
    results = _all_at_once([lambda: gateway.check_text("o-1", "内容")] * THREADS)
    assert results == ["pass"] * THREADS
    assert len(mocked.tokens.bodies) == 1
    sends = [c for c in mocked.calls if c.request.url.startswith(MSG_SEC_CHECK_URL)]
    assert [_token_of(c) for c in sends] == ["tok-1"] * THREADS


def test_processes_sharing_redis_on_a_cold_cache_make_one_token_fetch(mocked, redis_url):
    url, prefix = redis_url
    # One gateway (and Redis client) per thread, as separate processes would have.
    gateways = [WeChatGateway.from_config(_config(url, prefix)) for _ in range(THREADS)]
    results = _all_at_once([lambda g=g: g.check_text("o-1", "内容") for g in gateways])
    assert results == ["pass"] * THREADS
    assert len(mocked.tokens.bodies) == 1
    assert mocked.tokens.bodies[0]["force_refresh"] is False


def test_access_token_is_shared_between_processes_through_redis(mocked, redis_url):
    url, prefix = redis_url
    first, second = (WeChatGateway.from_config(_config(url, prefix)) for _ in range(2))
    assert first.client is not second.client
    first.check_text("o-1", "内容")
    second.check_text("o-1", "内容")
    assert len(mocked.tokens.bodies) == 1
    sends = [c for c in mocked.calls if "msg_sec_check" in c.request.url]
    assert [_token_of(c) for c in sends] == ["tok-1"] * 2


def test_a_token_replaced_by_another_process_is_used_without_fetching(mocked, redis_url):
    url, prefix = redis_url
    mocked.tokens.pause = 0
    this, other = (WeChatGateway.from_config(_config(url, prefix)) for _ in range(2))
    this.check_text("o-1", "内容")  # tok-1 in Redis

    def refused_while_the_other_replaces_it(request):
        mocked.tokens.rotate()  # WeChat moved on to tok-2 …
        assert other.tokens.replace("tok-1") == "tok-2"  # … and the other process stored it
        return 200, {}, json.dumps({"errcode": 40001, "errmsg": "invalid credential"})

    mocked.remove(responses.POST, MSG_SEC_CHECK_URL)
    mocked.add_callback(responses.POST, MSG_SEC_CHECK_URL, callback=refused_while_the_other_replaces_it)
    mocked.add(responses.POST, MSG_SEC_CHECK_URL, json=_verdict("review"))
    assert this.check_text("o-1", "内容") == "review"
    sends = [c for c in mocked.calls if c.request.url.startswith(MSG_SEC_CHECK_URL)]
    assert [_token_of(c) for c in sends] == ["tok-1", "tok-1", "tok-2"]
    assert len(mocked.tokens.bodies) == 2  # the first fetch, and the other process's


def test_processes_refused_at_once_force_refresh_once_between_them(mocked, redis_url):
    url, prefix = redis_url
    gateways = [WeChatGateway.from_config(_config(url, prefix)) for _ in range(4)]
    gateways[0].check_text("o-1", "内容")  # tok-1 in Redis
    results = _all_at_once([lambda g=g: g.tokens.replace("tok-1") for g in gateways])
    assert results == ["tok-2"] * 4
    assert [body["force_refresh"] for body in mocked.tokens.bodies].count(True) == 1


# --- Redis down or hung -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)  # so that the accepting thread notices the end of the test
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()
    for conn in accepted:
        conn.close()


def _error_in_thread(call):
    """The exception call() raises in a thread of its own (within 20 s: a call hung on Redis
    fails the test)."""
    with pytest.raises(Exception) as caught:
        in_own_thread(call, limit=20)
    return caught.value


def test_a_redis_that_is_down_makes_the_call_wechat_unavailable(mocked):
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    gateway = WeChatGateway.from_config(_config(url, timeout=1))
    error = _error_in_thread(lambda: gateway.check_text("o-1", "内容"))
    assert isinstance(error, WeChatUnavailable) and error.status == 503
    assert "微信" in error.message
    assert mocked.tokens.bodies == []  # no token fetched around the shared cache


def test_a_hung_redis_makes_the_call_wechat_unavailable(mocked, silent_server):
    url = f"redis://127.0.0.1:{silent_server}/0"
    gateway = WeChatGateway.from_config(_config(url, timeout=1))
    error = _error_in_thread(lambda: gateway.check_text("o-1", "内容"))
    assert isinstance(error, WeChatUnavailable) and error.status == 503
    assert mocked.tokens.bodies == []


def test_the_redis_client_waits_at_most_the_configured_timeout():
    client = redis_client("redis://127.0.0.1:6379/0", 1.5)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 1.5 and kwargs["socket_connect_timeout"] == 1.5
    assert kwargs["retry"].get_retries() == 0
    assert redis_client("", 1.5) is None


# --- production needs Redis when WeChat is configured --------------------------------------------


@pytest.fixture
def production_env(monkeypatch):
    for name, value in {
        "SECRET_KEY": "a-production-secret-of-at-least-32-bytes",
        "DATABASE_URL": "postgresql+psycopg://gridreport@/gridreport",
        "PUBLIC_BASE_URL": "https://wgh.example.gov.cn",
        "PERSONAL_DATA_KEY": "a-personal-data-key-of-at-least-32-bytes",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("DEV_LOGIN", "REDIS_URL", "WECHAT_APPID", "WECHAT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_production_refuses_wechat_without_redis(production_env):
    production_env.setenv("WECHAT_APPID", "wx0123456789abcdef")
    production_env.setenv("WECHAT_SECRET", "the-app-secret")
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        ProductionConfig.check()
    with pytest.raises(RuntimeError, match="REDIS_URL"):
        create_app(ProductionConfig)


def test_production_runs_wechat_with_redis_and_the_demo_without_either(production_env):
    ProductionConfig.check()  # no WeChat: no Redis needed
    production_env.setenv("WECHAT_APPID", "wx0123456789abcdef")
    production_env.setenv("WECHAT_SECRET", "the-app-secret")
    production_env.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    ProductionConfig.check()
