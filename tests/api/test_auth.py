"""Login by WeChat code or (demo) by openid, bearer tokens, logout."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
import responses

from tests.factories import make_person, make_registry, session_headers
from webapp.columns import utcnow
from webapp.extensions import db
from webapp.people import auth
from webapp.people.auth import hash_token, revoke_sessions
from webapp.people.models import AuthSession, Person
from webapp.wechat import JSCODE2SESSION_URL, WeChatGateway


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def wechat(app, monkeypatch):
    """A configured gateway on the app; WeChat itself is mocked at the HTTP level."""
    gateway = WeChatGateway("wx-test-app", "s3cret", timeout=2)
    monkeypatch.setitem(app.extensions, "wechat", gateway)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _assert_error_shape(response, status, code=None):
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "message", "errors"}
    assert body["message"]
    if code:
        assert body["code"] == code
    return body


def test_dev_login_makes_an_unknown_openid_a_resident(client, app_ctx):
    response = client.post("/api/v1/auth/dev", json={"openid": "demo-new-resident"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["expires_in"] == 7 * 24 * 3600
    assert body["user"]["roles"] == ["resident"]
    person = db.session.get(Person, body["user"]["id"])
    assert person.openid == "demo-new-resident"
    again = client.post("/api/v1/auth/dev", json={"openid": "demo-new-resident"}).get_json()
    assert again["user"]["id"] == person.id and again["token"] != body["token"]


def test_dev_login_as_staff_carries_their_roles(client, registry):
    registry.workers[0].openid = "demo-grid-1"
    db.session.commit()
    body = client.post("/api/v1/auth/dev", json={"openid": "demo-grid-1"}).get_json()
    assert body["user"] == {"id": registry.workers[0].id, "roles": ["resident", "grid_worker"]}


def test_token_is_stored_only_as_its_hash(client, app_ctx):
    token = client.post("/api/v1/auth/dev", json={"openid": "o-hash"}).get_json()["token"]
    session = db.session.query(AuthSession).one()
    assert session.token_hash == hash_token(token) and token not in session.token_hash


def test_dev_routes_answer_404_without_dev_login(client, app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "DEV_LOGIN", False)
    _assert_error_shape(client.post("/api/v1/auth/dev", json={"openid": "x"}), 404, "not_found")
    _assert_error_shape(client.get("/api/v1/dev/accounts"), 404, "not_found")
    assert db.session.query(Person).count() == 0


def test_dev_accounts_lists_staff_and_riders_with_openids(client, registry):
    from webapp.people.models import Rider, RiderStatus

    registry.workers[0].openid = "demo-grid-1"
    registry.community_staff.openid = "demo-community"
    rider = make_person("刘洋", openid="demo-rider")
    db.session.add(
        Rider(person_id=rider.id, community_id=registry.community.id, name="刘洋",
              platform="美团", status=RiderStatus.ACTIVE)
    )
    make_person("居民甲", openid="demo-resident")  # residents are not listed
    db.session.commit()
    items = client.get("/api/v1/dev/accounts").get_json()["items"]
    by_openid = {item["openid"]: item for item in items}
    assert set(by_openid) == {"demo-grid-1", "demo-community", "demo-rider"}
    assert by_openid["demo-grid-1"] == {
        "openid": "demo-grid-1", "name": "张丽", "roles": ["resident", "grid_worker"],
        "scope": "幸福社区 第1网格",
    }
    assert by_openid["demo-community"]["scope"] == "幸福社区"
    assert by_openid["demo-rider"]["roles"] == ["resident", "rider"]
    assert "幸福社区" in by_openid["demo-rider"]["scope"]


def test_wechat_login_keeps_the_session_key_on_the_server(client, app_ctx, wechat):
    wechat.add(
        responses.GET, JSCODE2SESSION_URL,
        json={"openid": "o-wx-1", "session_key": "SECRET-SESSION-KEY"},
    )
    response = client.post("/api/v1/auth/wechat", json={"code": "wx-code-1"})
    assert response.status_code == 200
    assert "SECRET-SESSION-KEY" not in response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"token", "expires_in", "user"}
    assert body["user"]["roles"] == ["resident"]
    stored = db.session.query(AuthSession).one()
    assert stored.wechat_session_key and "SECRET-SESSION-KEY" not in stored.wechat_session_key
    from webapp.people.auth import decrypt_session_key

    assert decrypt_session_key(stored.wechat_session_key) == "SECRET-SESSION-KEY"
    second = client.post("/api/v1/auth/wechat", json={"code": "wx-code-2"}).get_json()
    assert second["user"]["id"] == body["user"]["id"]


@pytest.mark.parametrize("errcode", [40029, 40163])  # invalid, already used
def test_wechat_login_with_an_invalid_or_used_code_is_401(client, app_ctx, wechat, errcode):
    wechat.add(responses.GET, JSCODE2SESSION_URL, json={"errcode": errcode, "errmsg": "invalid code"})
    body = _assert_error_shape(
        client.post("/api/v1/auth/wechat", json={"code": "bad"}), 401, "wechat_code_invalid"
    )
    assert "重新登录" in body["message"]
    assert db.session.query(Person).count() == 0


def test_wechat_login_of_a_user_wechat_blocks_is_403_not_log_in_again(client, app_ctx, wechat):
    wechat.add(responses.GET, JSCODE2SESSION_URL, json={"errcode": 40226, "errmsg": "code blocked"})
    response = client.post("/api/v1/auth/wechat", json={"code": "wx-code"})
    body = _assert_error_shape(response, 403, "wechat_user_blocked")
    assert "微信" in body["message"] and "风险" in body["message"]
    assert "重新登录" not in body["message"]  # the client must not loop on login
    assert "Retry-After" not in response.headers
    assert db.session.query(Person).count() == 0


def test_wechat_login_over_wechats_rate_limit_is_429_with_retry_after(client, app_ctx, wechat):
    wechat.add(
        responses.GET,
        JSCODE2SESSION_URL,
        json={"errcode": 45011, "errmsg": "api minute-quota reach limit  mustslower  retry next minute"},
    )
    response = client.post("/api/v1/auth/wechat", json={"code": "wx-code"})
    body = _assert_error_shape(response, 429, "wechat_rate_limited")
    assert body["message"] == "登录过于频繁，请稍后再试"
    assert response.headers["Retry-After"] == "60"
    assert db.session.query(Person).count() == 0


def test_wechat_login_never_fetches_an_access_token(client, app_ctx, wechat):
    wechat.add(responses.GET, JSCODE2SESSION_URL, json={"openid": "o-wx-2", "session_key": "k"})
    assert client.post("/api/v1/auth/wechat", json={"code": "c"}).status_code == 200
    assert [c.request.url.split("?")[0] for c in wechat.calls] == [JSCODE2SESSION_URL]


def test_openapi_documents_the_wechat_login_errors(client, app_ctx):
    spec = client.get("/api/openapi.json").get_json()
    answers = spec["paths"]["/api/v1/auth/wechat"]["post"]["responses"]
    assert {"401", "403", "429", "503"} <= set(answers)


def test_wechat_login_when_wechat_times_out_is_503(client, app_ctx, wechat):
    wechat.add(responses.GET, JSCODE2SESSION_URL, body=requests.exceptions.ReadTimeout("slow"))
    _assert_error_shape(
        client.post("/api/v1/auth/wechat", json={"code": "c"}), 503, "wechat_unavailable"
    )


def test_wechat_login_without_credentials_is_503(client, app_ctx):
    _assert_error_shape(
        client.post("/api/v1/auth/wechat", json={"code": "c"}), 503, "wechat_not_configured"
    )


def test_login_body_is_validated_422_and_malformed_json_is_400(client, app_ctx):
    body = _assert_error_shape(client.post("/api/v1/auth/dev", json={}), 422, "validation_error")
    assert "openid" in body["errors"]
    body = _assert_error_shape(client.post("/api/v1/auth/wechat", json={"code": ""}), 422)
    assert "code" in body["errors"]
    _assert_error_shape(
        client.post(
            "/api/v1/auth/dev", data='{"openid": ', headers={"Content-Type": "application/json"}
        ),
        400,
    )


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "bearer  "],
)
def test_missing_or_bad_token_is_401(client, app_ctx, header):
    headers = {"Authorization": header} if header else {}
    _assert_error_shape(client.get("/api/v1/riders/me", headers=headers), 401)


def test_logout_ends_the_session(client, app_ctx):
    token = client.post("/api/v1/auth/dev", json={"openid": "o-out"}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/riders/me", headers=headers).status_code == 404  # logged in
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    _assert_error_shape(client.get("/api/v1/riders/me", headers=headers), 401, "session_invalid")
    _assert_error_shape(client.post("/api/v1/auth/logout", headers=headers), 401)


def test_expired_revoked_and_deleted_sessions_are_401(client, app_ctx):
    person = make_person("居民乙", openid="o-many")
    expired, revoked, deleted = (session_headers(person) for _ in range(3))
    live = session_headers(person)
    sessions = {s.token_hash: s for s in db.session.query(AuthSession)}

    def session_of(headers):
        return sessions[hash_token(headers["Authorization"].split()[1])]

    session_of(expired).expires_at = utcnow() - timedelta(seconds=1)
    db.session.delete(session_of(deleted))
    db.session.commit()
    for headers in (expired, deleted):
        _assert_error_shape(client.get("/api/v1/riders/me", headers=headers), 401)
    assert client.get("/api/v1/riders/me", headers=revoked).status_code == 404
    assert revoke_sessions(person.id) == 3  # the expired one, "revoked" and live
    db.session.commit()
    for headers in (revoked, live):
        _assert_error_shape(client.get("/api/v1/riders/me", headers=headers), 401)


def test_openapi_documents_the_bearer_scheme(client, app_ctx):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    upload = spec["paths"]["/api/v1/uploads"]["post"]
    assert upload["security"] == [{"bearerAuth": []}]
    assert "401" in upload["responses"] and "201" in upload["responses"]
    assert "security" not in spec["paths"]["/api/v1/auth/dev"]["post"]


# --- The per-process actor cache (AUTH_CACHE_SECONDS; off in the other tests) ---------------


@pytest.fixture
def cached_auth(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_CACHE_SECONDS", 60.0)


def test_cached_token_is_checked_once_per_window(client, app_ctx, cached_auth, monkeypatch):
    headers = session_headers(make_person("居民丙", openid="o-cache"))
    db.session.commit()
    reads = []  # the session lookups (prepared on PostgreSQL: SQLAlchemy's events miss them)
    real = auth._session_actor_rows
    monkeypatch.setattr(auth, "_session_actor_rows", lambda key: reads.append(key) or real(key))
    assert client.get("/api/v1/riders/me", headers=headers).status_code == 404
    first, reads[:] = list(reads), []
    assert client.get("/api/v1/riders/me", headers=headers).status_code == 404
    assert len(first) == 1 and reads == []


def test_logout_and_revocation_end_a_cached_session_at_once(client, app_ctx, cached_auth):
    person = make_person("居民丁", openid="o-cache-2")
    out, revoked = session_headers(person), session_headers(person)
    db.session.commit()
    for headers in (out, revoked):
        assert client.get("/api/v1/riders/me", headers=headers).status_code == 404  # now cached
    assert client.post("/api/v1/auth/logout", headers=out).status_code == 204
    _assert_error_shape(client.get("/api/v1/riders/me", headers=out), 401, "session_invalid")
    assert client.get("/api/v1/riders/me", headers=revoked).status_code == 404
    revoke_sessions(person.id)
    db.session.commit()
    _assert_error_shape(client.get("/api/v1/riders/me", headers=revoked), 401, "session_invalid")


def test_actor_cache_honours_its_window_the_session_expiry_and_its_size(monkeypatch):
    from webapp.people import auth
    from webapp.people.actors import Actor

    cache = auth._ActorCache()
    actor = Actor(person_id="p1")
    cache.put("live", utcnow() + timedelta(hours=1), actor)
    cache.put("expired", utcnow() - timedelta(seconds=1), actor)
    assert cache.get("live", 60) is actor
    assert cache.get("expired", 60) is None  # the session ended while cached
    assert cache.get("live", 0) is None  # older than the window: read again
    assert cache.get("live", 60) is None  # and dropped
    monkeypatch.setattr(auth._ActorCache, "MAX", 2)
    for key in ("a", "b", "c"):
        cache.put(key, utcnow() + timedelta(hours=1), Actor(person_id=key))
    assert cache.get("a", 60) is None and cache.get("c", 60).person_id == "c"
    cache.forget_person("c")
    assert cache.get("c", 60) is None and cache.get("b", 60).person_id == "b"
