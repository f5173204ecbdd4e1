"""Abuse limits (webapp/limits.py): per address, per code, per person, daily caps, new guests.

Each test sets small limits on the session's app (TestingConfig keeps them out of reach of the
rest of the suite); the limiter's counts are reset after every test (tests/conftest.py).
"""
from __future__ import annotations

import io
import re
import uuid

import pytest

from tests.factories import auth_headers, jpeg_bytes, make_person, make_registry, submit
from webapp.extensions import db

RATE_LIMITED = {"code": "rate_limited", "message": "操作太频繁，请稍后再试", "errors": {}}


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def limit(app, monkeypatch):
    def set_limit(name: str, value: str) -> None:
        monkeypatch.setitem(app.config, name, value)

    return set_limit


def _from(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def _retry_after(response) -> int:
    value = int(response.headers["Retry-After"])
    assert 1 <= value
    return value


def test_scans_from_one_address_are_limited_and_others_are_not(client, registry, limit):
    limit("RATE_LIMIT_SCAN_PER_ADDRESS", "3/minute")
    code = registry.codes[registry.buildings[0].id]
    statuses = [client.get(f"/api/v1/scan/{code}", **_from("10.0.0.1")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get(f"/api/v1/scan/{code}", **_from("10.0.0.1"))
    assert refused.status_code == 429
    assert refused.get_json() == RATE_LIMITED
    assert _retry_after(refused) <= 60
    assert client.get(f"/api/v1/scan/{code}", **_from("10.0.0.2")).status_code == 200


def test_one_buildings_flood_leaves_other_buildings_alone(client, registry, limit):
    limit("RATE_LIMIT_SCAN_PER_CODE", "2/minute")
    flooded = registry.codes[registry.buildings[0].id]
    other = registry.codes[registry.buildings[1].id]
    statuses = [
        client.get(f"/api/v1/scan/{flooded}", **_from(f"10.0.1.{n}")).status_code for n in range(3)
    ]
    assert statuses == [200, 200, 429]  # many addresses, one building: its own limit
    assert client.get(f"/api/v1/scan/{other}", **_from("10.0.1.0")).status_code == 200


def test_the_default_per_address_limit_covers_every_api_path(client, registry, limit):
    limit("RATE_LIMIT_DEFAULT_PER_ADDRESS", "3/minute")
    code = registry.codes[registry.buildings[0].id]
    paths = [f"/api/v1/scan/{code}", "/api/v1/tickets/mine", f"/api/v1/scan/{code}"]
    assert [client.get(p, **_from("10.0.2.1")).status_code for p in paths] == [200, 401, 200]
    refused = client.get("/api/v1/tickets/mine", **_from("10.0.2.1"))
    assert refused.status_code == 429 and refused.get_json() == RATE_LIMITED
    assert client.get("/", **_from("10.0.2.1")).status_code != 429  # not an API path


def test_submissions_are_limited_per_person(client, registry, limit):
    limit("RATE_LIMIT_SUBMIT_PER_PERSON", "2/minute")
    code = registry.codes[registry.buildings[0].id]
    alice = auth_headers(client, openid="alice")
    bob = auth_headers(client, openid="bob")
    assert [submit(client, alice, code).status_code for _ in range(3)] == [201, 201, 429]
    refused = submit(client, alice, code)
    assert refused.get_json() == RATE_LIMITED and _retry_after(refused) <= 60
    assert submit(client, bob, code).status_code == 201


def test_submissions_are_limited_per_building(client, registry, limit):
    limit("RATE_LIMIT_SUBMIT_PER_CODE", "1/minute")
    code = registry.codes[registry.buildings[0].id]
    other = registry.codes[registry.buildings[1].id]
    alice = auth_headers(client, openid="alice")
    bob = auth_headers(client, openid="bob")
    assert submit(client, alice, code).status_code == 201
    assert submit(client, bob, code).status_code == 429
    assert submit(client, bob, other).status_code == 201


def test_reports_per_person_per_day_count_filed_tickets_only(client, registry, limit):
    limit("REPORTS_PER_PERSON_PER_DAY", "2/day")
    code = registry.codes[registry.buildings[0].id]
    alice = auth_headers(client, openid="alice")
    key = str(uuid.uuid4())
    assert submit(client, alice, code, key=key).status_code == 201
    assert submit(client, alice, code, key=key).status_code == 200  # a replay: not counted
    assert submit(client, alice, code, description="太短").status_code == 422  # refused: not counted
    assert submit(client, alice, code).status_code == 201
    refused = submit(client, alice, code)
    assert refused.status_code == 429 and refused.get_json() == RATE_LIMITED
    assert 23 * 3600 < _retry_after(refused) <= 24 * 3600
    assert submit(client, alice, code, key=key).status_code == 429  # the cap is checked first
    assert submit(client, auth_headers(client, openid="bob"), code).status_code == 201


def test_wishes_per_building_per_day(client, registry, limit):
    limit("WISHES_PER_BUILDING_PER_DAY", "1/day")
    code = registry.codes[registry.buildings[0].id]
    other = registry.codes[registry.buildings[1].id]
    wish = {"kind": "wish", "category": "wish", "description": "希望小区里多装几张长椅给老人歇脚", "anonymous": True}
    alice = auth_headers(client, openid="alice")
    bob = auth_headers(client, openid="bob")
    assert submit(client, alice, code, **wish).status_code == 201
    assert submit(client, bob, code, **wish).status_code == 429
    assert submit(client, bob, code).status_code == 201  # a report: not a wish
    assert submit(client, bob, other, **wish).status_code == 201


def test_uploads_are_limited_per_person(client, registry, limit):
    limit("RATE_LIMIT_UPLOAD_PER_PERSON", "1/minute")
    alice = auth_headers(client, openid="alice")

    def upload(headers):
        return client.post(
            "/api/v1/uploads", data={"file": (io.BytesIO(jpeg_bytes()), "p.jpg")},
            headers=headers, content_type="multipart/form-data",
        )

    assert upload(alice).status_code == 201
    refused = upload(alice)
    assert refused.status_code == 429 and refused.get_json() == RATE_LIMITED
    assert upload(auth_headers(client, openid="bob")).status_code == 201


def test_logins_are_limited_per_address(client, app_ctx, limit):
    limit("RATE_LIMIT_LOGIN_PER_ADDRESS", "2/minute")
    statuses = [
        client.post("/api/v1/auth/dev", json={"openid": f"p{n}"}, **_from("10.0.3.1")).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]


# --- the phone page and the console: Chinese pages ---------------------------------------


def _assert_chinese_page(response):
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "操作太频繁，请稍后再试" in response.get_data(as_text=True)
    _retry_after(response)


def test_phone_page_scans_are_limited_with_a_chinese_page(client, registry, limit):
    limit("RATE_LIMIT_SCAN_PER_ADDRESS", "1/minute")
    code = registry.codes[registry.buildings[0].id]
    assert client.get(f"/b/{code}", **_from("10.0.4.1")).status_code == 200
    _assert_chinese_page(client.get(f"/b/{code}", **_from("10.0.4.1")))


def _form(client, code, address):
    html = client.get(f"/b/{code}", **_from(address)).get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    token = re.search(r'name="form_token" value="([^"]+)"', html).group(1)
    return {
        "idempotency_key": key, "form_token": token, "kind": "report", "category_report": "light",
        "category_wish": "", "unit": "", "description": "2单元3楼楼道灯不亮已经一周了", "contact_phone": "",
    }


def test_new_guests_per_address_per_hour(app, registry, limit):
    limit("GUESTS_PER_ADDRESS_PER_HOUR", "1/hour")
    code = registry.codes[registry.buildings[0].id]
    first, second = app.test_client(), app.test_client()
    filed = first.post(f"/b/{code}/report", data=_form(first, code, "10.0.5.1"), **_from("10.0.5.1"))
    assert filed.status_code == 303
    # Another browser without a cookie from the same address: a second new guest is refused,
    # the form comes back with the text kept.
    refused = second.post(f"/b/{code}/report", data=_form(second, code, "10.0.5.1"), **_from("10.0.5.1"))
    _assert_chinese_page(refused)
    assert "2单元3楼楼道灯不亮已经一周了" in refused.get_data(as_text=True)
    assert 60 < _retry_after(refused) <= 3600
    # The first browser keeps its guest (its cookie): not a new identity.
    again = first.post(f"/b/{code}/report", data=_form(first, code, "10.0.5.1"), **_from("10.0.5.1"))
    assert again.status_code == 303
    # Another address may still start a guest.
    other = second.post(f"/b/{code}/report", data=_form(second, code, "10.0.5.2"), **_from("10.0.5.2"))
    assert other.status_code == 303


def test_phone_page_reports_per_person_per_day(app, registry, limit):
    limit("REPORTS_PER_PERSON_PER_DAY", "1/day")
    code = registry.codes[registry.buildings[0].id]
    browser = app.test_client()
    assert browser.post(f"/b/{code}/report", data=_form(browser, code, "10.0.6.1")).status_code == 303
    _assert_chinese_page(browser.post(f"/b/{code}/report", data=_form(browser, code, "10.0.6.1")))


def test_console_sign_in_posts_are_limited_per_address(client, app_ctx, limit):
    from tests.console.helpers import csrf_token

    limit("RATE_LIMIT_LOGIN_PER_ADDRESS", "1/minute")
    token = csrf_token(client)
    data = {"username": "nobody", "password": "wrong-password", "csrf_token": token}
    assert client.post("/console/login", data=data, **_from("10.0.7.1")).status_code == 401
    _assert_chinese_page(client.post("/console/login", data=data, **_from("10.0.7.1")))


def test_console_pages_are_limited_per_user(app, registry, limit):
    from tests.console.helpers import sign_in_as

    limit("RATE_LIMIT_CONSOLE_PER_USER", "3/minute")
    worker = registry.workers[0]
    browser = app.test_client()
    assert sign_in_as(browser, worker).status_code == 303  # the sign-in post: its own limit
    statuses = [browser.get("/console/").status_code for _ in range(4)]
    assert 429 in statuses and statuses[0] == 200
    _assert_chinese_page(browser.get("/console/"))


def test_limits_count_the_address_behind_the_trusted_proxy(database_url, app, registry):
    from webapp import create_app
    from webapp.config import TestingConfig

    proxied = create_app(
        TestingConfig, SQLALCHEMY_DATABASE_URI=database_url, TRUSTED_PROXY_COUNT=1,
        RATE_LIMIT_SCAN_PER_ADDRESS="1/minute",
    )
    client = proxied.test_client()
    code = registry.codes[registry.buildings[0].id]

    def scan(forwarded):
        return client.get(f"/api/v1/scan/{code}", headers={"X-Forwarded-For": forwarded}).status_code

    assert [scan("203.0.113.1"), scan("203.0.113.1"), scan("203.0.113.2")] == [200, 429, 200]
    # A spoofed address before the proxy's own entry changes nothing.
    assert scan("198.51.100.9, 203.0.113.1") == 429



def test_process_memory_storage_counts_fixed_windows_without_a_thread(app, monkeypatch):
    """Without Redis the counts live in the process (ProcessMemoryStorage, limits' public
    storage interface): a window's count ends with it, swept or not, ended counters are swept
    in the caller's thread at most once a second, and no hit starts a thread."""
    import threading

    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from webapp import limits as app_limits

    assert isinstance(app_limits.limiter.storage, app_limits.ProcessMemoryStorage)
    clock = [1_000_000.0]
    monkeypatch.setattr(app_limits.time, "time", lambda: clock[0])  # time.time, for this test
    started = []
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread))
    storage = app_limits.ProcessMemoryStorage()
    strategy = FixedWindowRateLimiter(storage)
    item = parse("2/minute")

    assert [strategy.hit(item, "k"), strategy.hit(item, "k"), strategy.hit(item, "k")] == [True, True, False]
    assert strategy.test(item, "other") and not strategy.test(item, "k")
    reset, remaining = strategy.get_window_stats(item, "k")
    assert remaining == 0 and reset == clock[0] + 60
    clock[0] += 61  # the window has ended: read as ended before any sweep
    assert strategy.test(item, "k")
    assert strategy.hit(item, "k") is True
    strategy.hit(parse("1/second"), "short")
    clock[0] += 2
    strategy.hit(item, "k")  # more than SWEEP_SECONDS since the last sweep: "short" is swept
    assert not any("short" in key for key in storage._counts)  # noqa: SLF001 - the test's own object
    assert started == [] and storage.check() is True
    assert storage.reset() >= 1 and strategy.test(item, "k")


def test_limits_switched_off_count_nothing_and_log_no_failure(client, registry, limit, caplog):
    """RATELIMIT_ENABLED off (an operator's switch): no 429 from any limit or cap, and no
    "storage failed" error logged for every request."""
    for name in ("RATE_LIMIT_DEFAULT_PER_ADDRESS", "RATE_LIMIT_SCAN_PER_CODE", "RATE_LIMIT_SUBMIT_PER_PERSON"):
        limit(name, "1/minute")
    limit("REPORTS_PER_PERSON_PER_DAY", "1/day")
    limit("RATELIMIT_ENABLED", False)
    code = registry.codes[registry.buildings[0].id]
    alice = auth_headers(client, openid="alice")
    for _ in range(3):
        assert client.get(f"/api/v1/scan/{code}").status_code == 200
        assert submit(client, alice, code).status_code == 201
    assert not [r for r in caplog.records if "rate limit" in r.getMessage()]


def test_counters_are_keyed_by_the_apps_key_prefix(client, registry, limit):
    """RATELIMIT_KEY_PREFIX leads every counter's key, the direct ones too: two deployments (or
    test runs) sharing one Redis never share a count."""
    limit("RATE_LIMIT_SCAN_PER_CODE", "2/minute")
    code = registry.codes[registry.buildings[0].id]
    limit("RATELIMIT_KEY_PREFIX", "deployment-a")
    assert [client.get(f"/api/v1/scan/{code}").status_code for _ in range(3)] == [200, 200, 429]
    limit("RATELIMIT_KEY_PREFIX", "deployment-b")
    assert client.get(f"/api/v1/scan/{code}").status_code == 200
