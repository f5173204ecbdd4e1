"""Secrets: production refuses weak ones; one derived key per purpose; rotation keeps what was
made with the previous secret (or before keys were derived) valid where it is checked."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from webapp.config import DEVELOPMENT_SECRET_KEY, ProductionConfig
from webapp.keys import PURPOSES, derived_key, verification_keys

STRONG = "k" * 40


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db.example/grid")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.cn")
    monkeypatch.delenv("DEV_LOGIN", raising=False)
    monkeypatch.delenv("WECHAT_APPID", raising=False)
    return monkeypatch


@pytest.mark.parametrize("secret", ["x", "s" * 31, DEVELOPMENT_SECRET_KEY])
def test_production_refuses_a_weak_or_published_secret(production_env, secret):
    production_env.setenv("SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be at least 32 bytes"):
        ProductionConfig.check()


def test_production_accepts_a_long_secret(production_env):
    production_env.setenv("SECRET_KEY", STRONG)
    ProductionConfig.check()


def test_each_purpose_has_its_own_key_and_none_is_the_secret(app_ctx):
    keys = {purpose: derived_key(purpose) for purpose in PURPOSES}
    assert len(set(keys.values())) == len(PURPOSES)
    assert all(len(key) == 32 for key in keys.values())
    assert app_ctx.config["SECRET_KEY"].encode() not in keys.values()
    assert derived_key("follow-link", "another secret") != keys["follow-link"]
    with pytest.raises(ValueError):
        derived_key("no-such-purpose")


def _old_follow_token(secret: str, ticket_id: str) -> str:
    mac = hmac.new(secret.encode(), f"h5-follow:{ticket_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode()


def test_follow_links_survive_a_rotation_and_the_move_to_derived_keys(app, app_ctx, monkeypatch):
    from webapp.h5.follow import follow_token, follow_token_ok

    old_secret = app.config["SECRET_KEY"]
    made_before = follow_token("T1")
    legacy = _old_follow_token(old_secret, "T1")  # a link printed before keys were derived
    assert made_before != legacy and follow_token_ok("T1", legacy)

    monkeypatch.setitem(app.config, "SECRET_KEY", STRONG)
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", old_secret)
    assert follow_token("T1") != made_before
    assert follow_token_ok("T1", made_before) and follow_token_ok("T1", legacy)
    assert not follow_token_ok("T2", made_before)

    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", "")  # the transition is over
    assert not follow_token_ok("T1", made_before)
    assert follow_token_ok("T1", follow_token("T1"))


def test_open_forms_survive_a_rotation(app, app_ctx, monkeypatch):
    from webapp.h5.report import form_token, form_token_ok

    token = form_token("CODE", "key")
    old_secret = app.config["SECRET_KEY"]
    monkeypatch.setitem(app.config, "SECRET_KEY", STRONG)
    assert not form_token_ok(token, "CODE", "key")
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", old_secret)
    assert form_token_ok(token, "CODE", "key")
    assert form_token_ok(form_token("CODE", "key"), "CODE", "key")


def test_anonymous_wish_authors_are_found_under_old_and_new_keys(app, app_ctx, monkeypatch):
    from webapp.people.actors import Actor
    from webapp.tickets import wishes
    from webapp.tickets.models import Ticket

    old_secret = app.config["SECRET_KEY"]
    legacy = hmac.new(old_secret.encode(), b"reporter:P1", hashlib.sha256).hexdigest()
    derived = wishes.reporter_key("P1")
    assert derived != legacy
    monkeypatch.setitem(app.config, "SECRET_KEY", STRONG)
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", old_secret)
    for stored in (legacy, derived, wishes.reporter_key("P1")):
        wish = Ticket(reporter_id=None, reporter_key=stored, is_anonymous=True)
        assert wishes.is_author(Actor(person_id="P1"), wish)
        assert not wishes.is_author(Actor(person_id="P2"), wish)
    assert wishes.reporter_keys("P1")[0] == wishes.reporter_key("P1")


def test_wechat_session_keys_stay_readable_after_a_rotation(app, app_ctx, monkeypatch):
    from cryptography.fernet import Fernet

    from webapp.people import auth

    old_secret = app.config["SECRET_KEY"]
    stored_now = auth.encrypt_session_key("session-key-1")
    legacy_key = hashlib.sha256(b"wechat-session-key:" + old_secret.encode()).digest()
    stored_legacy = Fernet(base64.urlsafe_b64encode(legacy_key)).encrypt(b"session-key-0").decode()
    assert auth.decrypt_session_key(stored_legacy) == "session-key-0"
    monkeypatch.setitem(app.config, "SECRET_KEY", STRONG)
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", old_secret)
    assert auth.decrypt_session_key(stored_now) == "session-key-1"
    assert auth.decrypt_session_key(stored_legacy) == "session-key-0"
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", "")
    assert auth.decrypt_session_key(stored_now) is None


def test_legacy_values_can_be_refused(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "ACCEPT_LEGACY_SECRET_KEY", False)
    assert verification_keys("follow-link") == [derived_key("follow-link")]


def test_an_anonymous_wish_filed_before_derived_keys_stays_in_its_authors_list(app_ctx, client):
    """A wish whose keyed hash was made with SECRET_KEY itself (before this change) is still
    listed under GET /api/v1/tickets/mine, and binding still sees it as history."""
    from tests.factories import auth_headers, make_registry, submit
    from webapp.extensions import db
    from webapp.people.models import Person
    from webapp.tickets.models import Ticket

    registry = make_registry()
    headers = auth_headers(client, openid="legacy-wisher")
    filed = submit(client, headers, registry.codes[registry.buildings[0].id], kind="wish",
                   category="wish", description="希望楼下多装一盏路灯", anonymous=True).get_json()
    person_id = db.session.query(Person.id).filter_by(openid="legacy-wisher").scalar()
    legacy = hmac.new(app_ctx.config["SECRET_KEY"].encode(), f"reporter:{person_id}".encode(), hashlib.sha256).hexdigest()
    db.session.get(Ticket, filed["id"]).reporter_key = legacy
    db.session.commit()
    mine = client.get("/api/v1/tickets/mine", headers=headers).get_json()
    assert [t["id"] for t in mine["items"]] == [filed["id"]]
