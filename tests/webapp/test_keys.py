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
    monkeypatch.setenv("PERSONAL_DATA_KEY", "p" * 40)
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


def _rotate(app, monkeypatch) -> str:
    """SECRET_KEY becomes STRONG, the old one SECRET_KEY_PREVIOUS; returns the old one. The key
    of personal fields at rest stays as it was, as in production where PERSONAL_DATA_KEY is set
    on its own (tests derive it from SECRET_KEY when none is set)."""
    old_secret = app.config["SECRET_KEY"]
    if "personal-data" in PURPOSES and not app.config.get("PERSONAL_DATA_KEY"):
        monkeypatch.setitem(app.config, "PERSONAL_DATA_KEY", derived_key("personal-data").hex())
    monkeypatch.setitem(app.config, "SECRET_KEY", STRONG)
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", old_secret)
    return old_secret


def _submitted(client, headers, code, key, description="3单元楼道灯坏了一周，晚上很黑"):
    from tests.factories import submit

    return submit(client, headers, code, key=key, description=description)


def _ticket_count() -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.tickets.models import Ticket

    return db.session.scalar(select(func.count()).select_from(Ticket))


def test_a_retry_finds_its_ticket_across_a_rotation_and_the_move_to_derived_keys(
    app, app_ctx, client, monkeypatch
):
    """The hash of an Idempotency-Key is stored with its claim: a retry made after a rotation
    (or after keys were derived) replays the ticket instead of filing it again."""
    from sqlalchemy import select

    from tests.factories import auth_headers, make_registry
    from webapp.extensions import db
    from webapp.people.models import Person
    from webapp.tickets import submission
    from webapp.tickets.models import IdempotencyRecord

    registry = make_registry()
    code = registry.codes[registry.buildings[0].id]
    headers = auth_headers(client, openid="retrying-resident")
    person_id = db.session.scalars(select(Person.id).where(Person.openid == "retrying-resident")).one()
    old_secret = app.config["SECRET_KEY"]

    first = _submitted(client, headers, code, "key-before-rotation")
    assert first.status_code == 201, first.get_json()
    record = db.session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.ticket_id == first.get_json()["id"])).one()
    derived = hmac.new(derived_key("idempotency"), f"idem:{person_id}:key-before-rotation".encode(), hashlib.sha256).hexdigest()
    assert record.key_hash == derived  # not keyed with SECRET_KEY itself any more

    # A claim made before keys were derived (keyed with SECRET_KEY itself).
    second = _submitted(client, headers, code, "key-from-legacy", description="路灯坏了，晚上看不清路")
    assert second.status_code == 201
    legacy = hmac.new(old_secret.encode(), f"idem:{person_id}:key-from-legacy".encode(), hashlib.sha256).hexdigest()
    db.session.execute(
        IdempotencyRecord.__table__.update()
        .where(IdempotencyRecord.ticket_id == second.get_json()["id"])
        .values(key_hash=legacy)
    )
    db.session.commit()

    _rotate(app, monkeypatch)
    before = _ticket_count()
    replay = _submitted(client, headers, code, "key-before-rotation")
    assert replay.status_code == 200, replay.get_json()
    assert replay.get_json()["id"] == first.get_json()["id"]
    legacy_replay = _submitted(client, headers, code, "key-from-legacy", description="路灯坏了，晚上看不清路")
    assert legacy_replay.status_code == 200 and legacy_replay.get_json()["id"] == second.get_json()["id"]
    reused = _submitted(client, headers, code, "key-before-rotation", description="另一件事：垃圾没人清运")
    assert reused.status_code == 422 and reused.get_json()["code"] == "idempotency_key_reused"
    assert _ticket_count() == before
    # The phone page's lookup (webapp/h5/report.py) goes through the same hashes.
    from webapp.people.actors import Actor

    actor = Actor(person_id=person_id)
    assert submission.ticket_for_key(actor, "key-before-rotation").id == first.get_json()["id"]
    assert submission.ticket_for_key(actor, "key-from-legacy").id == second.get_json()["id"]
    assert submission.ticket_for_key(Actor(person_id="someone-else"), "key-before-rotation") is None

    # The transition is over, legacy values refused: the old claims are no longer found.
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", "")
    monkeypatch.setitem(app.config, "ACCEPT_LEGACY_SECRET_KEY", False)
    assert submission.ticket_for_key(actor, "key-before-rotation") is None
    assert submission.ticket_for_key(actor, "key-from-legacy") is None
    fresh = _submitted(client, headers, code, "key-before-rotation")
    assert fresh.status_code == 201 and fresh.get_json()["id"] != first.get_json()["id"]


def test_bind_codes_redeem_across_a_rotation_and_the_move_to_derived_keys(app, app_ctx, client, monkeypatch):
    from tests.factories import auth_headers, make_registry
    from webapp.extensions import db
    from webapp.people import bindings

    registry = make_registry()
    old_secret = app.config["SECRET_KEY"]
    row, issued = bindings.issue_bind_code(registry.workers[0].id)
    normalized = bindings.normalize_code(issued)
    assert row.code_hash == hmac.new(derived_key("bind-code"), f"bind:{normalized}".encode(), hashlib.sha256).hexdigest()
    legacy_row, legacy_code = bindings.issue_bind_code(registry.workers[1].id)
    legacy_row.code_hash = hmac.new(
        old_secret.encode(), f"bind:{bindings.normalize_code(legacy_code)}".encode(), hashlib.sha256
    ).hexdigest()  # a code issued before keys were derived, still unused
    db.session.commit()

    _rotate(app, monkeypatch)
    for code, worker in ((issued, registry.workers[0]), (legacy_code, registry.workers[1])):
        response = client.post("/api/v1/auth/bind", json={"bind_code": code},
                               headers=auth_headers(client, openid=f"wx-{worker.id}"))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["id"] == worker.id

    # A code issued now stores the new key's hash; without the previous secret and legacy
    # acceptance, a code of before is void.
    row3, code3 = bindings.issue_bind_code(registry.professional.id)
    old_row, old_code = bindings.issue_bind_code(registry.community_staff.id)
    old_row.code_hash = hmac.new(
        derived_key("bind-code", old_secret), f"bind:{bindings.normalize_code(old_code)}".encode(), hashlib.sha256
    ).hexdigest()
    db.session.commit()
    assert row3.code_hash == bindings._code_hashes(bindings.normalize_code(code3))[0]
    monkeypatch.setitem(app.config, "SECRET_KEY_PREVIOUS", "")
    refused = client.post("/api/v1/auth/bind", json={"bind_code": old_code},
                          headers=auth_headers(client, openid="wx-late"))
    assert refused.status_code == 422 and refused.get_json()["code"] == "bind_code_invalid"
