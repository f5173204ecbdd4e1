"""Staff passwords: hashing, who may sign in, the same answer for every refusal, lock-outs."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import make_person, make_registry
from webapp.audit.models import AuditEntry
from webapp.audit.trail import Action, record
from webapp.columns import utcnow
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.people import passwords

PASSWORD = "correct-horse-42"


@pytest.fixture
def registry(app_ctx):
    registry = make_registry()
    passwords.set_password(registry.workers[0].code, PASSWORD)
    db.session.commit()
    return registry


def test_a_password_is_kept_only_as_a_salted_scrypt_hash(registry):
    worker = registry.workers[0]
    assert worker.password_hash.startswith("scrypt:")
    assert PASSWORD not in worker.password_hash
    other = registry.workers[1]
    passwords.set_password(other.code, PASSWORD)
    assert other.password_hash != worker.password_hash  # each with its own salt


@pytest.mark.parametrize("password", ["", "123456789", "x" * 129])
def test_set_password_refuses_a_password_too_short_or_too_long(registry, password):
    with pytest.raises(Invalid):
        passwords.set_password(registry.workers[1].code, password)


def test_set_password_is_only_for_staff(registry):
    make_person("居民甲", code="R-001")
    with pytest.raises(NotFound):
        passwords.set_password("R-001", PASSWORD)
    with pytest.raises(NotFound):
        passwords.set_password("P-NOBODY", PASSWORD)


def test_verify_sign_in_returns_the_actor_with_their_session_version(registry):
    worker = registry.workers[0]
    signed = passwords.verify_sign_in(f"  {worker.code} ", PASSWORD, "127.0.0.1")
    assert signed.actor.person_id == worker.id and signed.actor.is_staff
    assert signed.session_version == worker.session_version
    assert passwords.session_actor(worker.id, signed.session_version).person_id == worker.id
    assert passwords.session_actor(worker.id, signed.session_version - 1) is None


@pytest.mark.parametrize(
    "username, password",
    [("P-NOBODY", PASSWORD), ("P-ZL", "wrong-password-1"), ("P-WQ", PASSWORD), ("R-001", PASSWORD), ("", "")],
    ids=["unknown", "wrong", "no-password", "resident", "empty"],
)
def test_every_refusal_says_the_same_and_costs_one_hash_check(registry, monkeypatch, username, password):
    from werkzeug.security import generate_password_hash

    make_person("居民甲", code="R-001", password_hash=generate_password_hash(PASSWORD))
    checks = []
    real_check = passwords.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash", lambda *a: checks.append(a) or real_check(*a))
    with pytest.raises(passwords.SignInFailed) as refused:
        passwords.verify_sign_in(username, password, "127.0.0.1")
    assert (refused.value.status, refused.value.message) == (401, "用户名或密码错误")
    assert len(checks) == 1


def test_five_wrong_passwords_lock_the_account_for_login_lock_minutes(app, registry):
    worker = registry.workers[0]
    for attempt in range(1, 6):
        with pytest.raises(passwords.SignInFailed):
            passwords.verify_sign_in(worker.code, "wrong-password-1", "127.0.0.1")
        assert worker.failed_sign_ins == attempt
    minutes = app.config["LOGIN_LOCK_MINUTES"]
    assert worker.locked_until - utcnow() == pytest.approx(timedelta(minutes=minutes), abs=timedelta(seconds=5))
    with pytest.raises(passwords.SignInLocked) as locked:
        passwords.verify_sign_in(worker.code, PASSWORD, "127.0.0.1")
    assert locked.value.status == 429
    assert locked.value.message == f"密码错误次数过多，账号已锁定，请 {minutes:g} 分钟后再试"
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-3:] == ["sign_in_failed", "account_locked", "sign_in_locked"]


def test_an_expired_lock_gives_a_new_run_of_attempts(registry):
    worker = registry.workers[0]
    worker.failed_sign_ins, worker.locked_until = 5, utcnow() - timedelta(minutes=1)
    with pytest.raises(passwords.SignInFailed):
        passwords.verify_sign_in(worker.code, "wrong-password-1", "127.0.0.1")
    assert (worker.failed_sign_ins, worker.locked_until) == (1, None)


def test_an_address_is_refused_while_it_has_too_many_recent_failures(app, registry, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 3)
    now = utcnow()
    # Two failures 20 minutes ago are outside the window (LOGIN_LOCK_MINUTES, 15).
    for minutes_ago in (20, 20, 10, 4):
        record(Action.SIGN_IN_FAILED, address="203.0.113.5", at=now - timedelta(minutes=minutes_ago))
    with pytest.raises(passwords.SignInFailed):  # two in the window: one more try allowed
        passwords.verify_sign_in("P-NOBODY", "x" * 10, "203.0.113.5")
    with pytest.raises(passwords.SignInLocked) as refused:
        passwords.verify_sign_in(registry.workers[0].code, PASSWORD, "203.0.113.5")
    # Free again when the oldest of the last three (10 minutes ago) leaves the window: 5 minutes.
    assert refused.value.message == "该地址登录失败次数过多，请 5 分钟后再试"
    assert passwords.verify_sign_in(registry.workers[0].code, PASSWORD, "198.51.100.1").actor.is_staff


def test_sign_out_and_a_new_password_end_the_console_sessions(registry):
    worker = registry.workers[0]
    version = passwords.verify_sign_in(worker.code, PASSWORD, None).session_version
    passwords.sign_out(worker.id, None)
    assert passwords.session_actor(worker.id, version) is None
    db.session.refresh(worker)
    version = worker.session_version
    passwords.set_password(worker.code, "another-password-7")
    assert passwords.session_actor(worker.id, version) is None


def test_demo_password_reaches_every_staff_account_once(registry):
    changed = passwords.set_demo_password("demo-password-1")
    assert changed == 4  # two grid workers, the professional, the community staff
    for person in (*registry.workers, registry.professional, registry.community_staff):
        assert passwords.verify_sign_in(person.code, "demo-password-1", None).actor.is_staff
    assert passwords.set_demo_password("demo-password-1") == 0
