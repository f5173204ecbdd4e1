"""Staff passwords and console sign-in: hashing, checking, lock-outs, the session version.

- The username is the person's code in the one table (`P011`); only a person holding a staff
  role signs in. The password is kept as werkzeug's salted scrypt hash, never in clear.
- A refusal never tells whether the username exists: an unknown username, a wrong password, a
  person without a password or without a staff role all get "用户名或密码错误", and each runs
  one scrypt check, so they take the same time.
- Lock-outs, both kept in the database (every process sees them):
  an account: LOGIN_MAX_FAILURES (5) wrong passwords in a row lock it for LOGIN_LOCK_MINUTES
  (15); while locked every attempt is refused, the right password too. A sign-in resets the run.
  an address: LOGIN_MAX_FAILURES_PER_ADDRESS (20) failures from one client address within
  LOGIN_LOCK_MINUTES refuse its further attempts until the oldest of them ages out. Failures are
  read from the audit trail, which records each one with its address anyway.
- Every sign-in, failure, lock and password change is in the audit trail (webapp.audit.trail).
- A person's session_version is part of their console sessions' id: a new password or a sign-out
  raises it and so ends every console session of that person.

Functions flush, never commit; a refused sign-in has written its failure when it raises, and
the door commits that before answering.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.audit.trail import Action, record, times_since
from webapp.columns import utcnow
from webapp.errors import DomainError, Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.people.actors import Actor, load_actor
from webapp.people.models import Person, StaffAssignment

HASH_METHOD = "scrypt"
MIN_LENGTH = 10
MAX_LENGTH = 128
# A password `--generate` makes: 16 characters from an alphabet without look-alikes.
GENERATED_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
GENERATED_LENGTH = 16
WRONG_CREDENTIALS = "用户名或密码错误"
# What an address's refused attempts count as failures.
ADDRESS_FAILURES = {Action.SIGN_IN_FAILED, Action.SIGN_IN_LOCKED}


class SignInFailed(DomainError):
    """Wrong username or password (or not someone who may sign in): never says which."""

    status = 401
    code = "sign_in_failed"
    message = WRONG_CREDENTIALS


class SignInLocked(DomainError):
    """The account, or the client's address, may not try again for a while."""

    status = 429
    code = "sign_in_locked"
    message = "密码错误次数过多，账号已锁定，请稍后再试"


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: who, and the session version their session must carry."""

    actor: Actor
    session_version: int


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to check against when there is no real one, so every refusal costs one scrypt."""
    return generate_password_hash(secrets.token_urlsafe(16), method=HASH_METHOD)


def _minutes(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds() / 60))


def _lock_window() -> timedelta:
    return timedelta(minutes=float(current_app.config["LOGIN_LOCK_MINUTES"]))


def _is_staff(person_id: str) -> bool:
    return db.session.scalar(
        select(StaffAssignment.id).where(StaffAssignment.person_id == person_id).limit(1)
    ) is not None


def staff_by_username(username: str) -> Person | None:
    """The staff member whose one-table code is `username`, or None (unknown, not staff, or
    deactivated)."""
    username = (username or "").strip()
    if not username:
        return None
    person = db.session.scalars(select(Person).where(Person.code == username)).first()
    if person is None or person.deactivated_at is not None or not _is_staff(person.id):
        return None  # someone who left (webapp.people.accounts.deactivate) is nobody here
    return person


def check_password_strength(password: str) -> None:
    """Raise Invalid (in Chinese) for a password too short or too long."""
    if len(password) < MIN_LENGTH:
        raise Invalid(f"密码至少需要{MIN_LENGTH}个字符", errors={"password": [f"密码至少需要{MIN_LENGTH}个字符"]})
    if len(password) > MAX_LENGTH:
        raise Invalid(f"密码不能超过{MAX_LENGTH}个字符", errors={"password": [f"密码不能超过{MAX_LENGTH}个字符"]})


def generate_password() -> str:
    return "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))


def set_password(
    username: str, password: str, *, by: str = "cli", actor_id: str | None = None,
    address: str | None = None,
) -> Person:
    """Give the staff member `username` a new password; it ends their console sessions,
    clears a lock and is audited (password_set, detail.by says how: cli, demo).

    Raises NotFound when no staff member has that code, Invalid for a password shorter than
    MIN_LENGTH (10) or longer than MAX_LENGTH characters.
    """
    person = staff_by_username(username)
    if person is None:
        raise NotFound(f"未找到工作人员账号 {username.strip()}（用户名为人员编码，且须有工作人员角色）")
    check_password_strength(password)
    person.password_hash = generate_password_hash(password, method=HASH_METHOD)
    person.password_set_at = utcnow()
    person.failed_sign_ins = 0
    person.locked_until = None
    person.session_version = (person.session_version or 0) + 1
    db.session.flush()
    record(
        Action.PASSWORD_SET, actor_id=actor_id, target_type="person", target_id=person.id,
        address=address, detail={"by": by, "username": person.code},
    )
    return person


def set_demo_password(password: str) -> int:
    """Give every staff member with a code the demo's one password (the demo only: the CLI
    refuses it in production); returns how many changed. One hash serves them all, and a
    staff member whose hash already takes this password is left alone, so running it at
    every start changes nothing and ends no session."""
    check_password_strength(password)
    staff_ids = select(StaffAssignment.person_id)
    people = db.session.scalars(
        select(Person).where(Person.code.is_not(None), Person.id.in_(staff_ids)).order_by(Person.code)
    ).all()
    verdicts: dict[str, bool] = {}  # each distinct stored hash checked once
    for person in people:
        if person.password_hash and person.password_hash not in verdicts:
            verdicts[person.password_hash] = check_password_hash(person.password_hash, password)
    new_hash = None
    changed = 0
    for person in people:
        if person.password_hash and verdicts[person.password_hash]:
            continue
        new_hash = new_hash or generate_password_hash(password, method=HASH_METHOD)
        person.password_hash = new_hash
        person.password_set_at = utcnow()
        person.failed_sign_ins = 0
        person.locked_until = None
        person.session_version = (person.session_version or 0) + 1
        record(
            Action.PASSWORD_SET, target_type="person", target_id=person.id,
            detail={"by": "demo", "username": person.code},
        )
        changed += 1
    db.session.flush()
    return changed


def _address_refusal(address: str | None, now: datetime) -> SignInLocked | None:
    """The refusal for an address with too many recent failures, or None."""
    limit = int(current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"])
    if not address or limit <= 0:
        return None
    window = _lock_window()
    recent = times_since(ADDRESS_FAILURES, address=address, since=now - window, limit=limit)
    if len(recent) < limit:
        return None
    free_at = recent[limit - 1] + window  # when the oldest of the last `limit` ages out
    minutes = _minutes(free_at - now)
    return SignInLocked(
        f"该地址登录失败次数过多，请 {minutes} 分钟后再试",
        code="sign_in_throttled",
        headers={"Retry-After": str(minutes * 60)},
    )


def _account_refusal(person: Person, now: datetime) -> SignInLocked | None:
    if person.locked_until is None or person.locked_until <= now:
        return None
    minutes = _minutes(person.locked_until - now)
    return SignInLocked(
        f"密码错误次数过多，账号已锁定，请 {minutes} 分钟后再试",
        headers={"Retry-After": str(minutes * 60)},
    )


def _count_failure(person: Person, now: datetime, address: str | None) -> None:
    """One more wrong password in a row; the LOGIN_MAX_FAILURES-th locks the account."""
    if person.locked_until is not None and person.locked_until <= now:
        person.failed_sign_ins = 0  # an expired lock starts a new run
        person.locked_until = None
    # One statement, so that two wrong passwords at once both count.
    db.session.execute(
        update(Person).where(Person.id == person.id).values(failed_sign_ins=Person.failed_sign_ins + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(person, ["failed_sign_ins"])
    if person.failed_sign_ins >= int(current_app.config["LOGIN_MAX_FAILURES"]):
        person.locked_until = now + _lock_window()
        db.session.flush()
        record(
            Action.ACCOUNT_LOCKED, actor_id=person.id, target_type="person", target_id=person.id,
            address=address,
            detail={"failures": person.failed_sign_ins, "locked_until": person.locked_until.isoformat()},
        )


def verify_sign_in(username: str, password: str, address: str | None) -> SignedIn:
    """Sign a staff member in with their username (one-table code) and password.

    Returns who signed in and their session version. Raises SignInFailed (401, "用户名或密码错误")
    for an unknown username, a wrong password, a person without a password or without a staff
    role; SignInLocked (429, with the minutes to wait) while the account or the address is
    locked out. Each outcome is in the audit trail; the caller commits, refusals included.
    """
    now = utcnow()
    username = (username or "").strip()[:40]
    password = password or ""
    refusal = _address_refusal(address, now)
    if refusal is not None:
        record(Action.SIGN_IN_THROTTLED, address=address, detail={"username": username})
        raise refusal
    person = staff_by_username(username)
    if person is not None:
        refusal = _account_refusal(person, now)
        if refusal is not None:
            record(
                Action.SIGN_IN_LOCKED, actor_id=person.id, target_type="person", target_id=person.id,
                address=address, detail={"username": username},
            )
            raise refusal
    stored = person.password_hash if person is not None and person.password_hash else None
    matches = check_password_hash(stored or _dummy_hash(), password[:MAX_LENGTH]) and stored is not None
    if person is None or not matches:
        detail = {"username": username}
        if person is not None and stored is None:
            detail["reason"] = "no_password"
        record(
            Action.SIGN_IN_FAILED, actor_id=person.id if person else None,
            target_type="person" if person else None, target_id=person.id if person else None,
            address=address, detail=detail,
        )
        if person is not None:
            _count_failure(person, now, address)
        raise SignInFailed()
    person.failed_sign_ins = 0
    person.locked_until = None
    db.session.flush()
    record(Action.SIGN_IN, actor_id=person.id, address=address, detail={"method": "password"})
    return SignedIn(load_actor(person.id, person=person), person.session_version)


def sign_in_demo(openid: str, address: str | None) -> SignedIn:
    """Sign in, without a password, as the staff member bound to openid (the demo's account
    picker: the console checks DEV_LOGIN). Raises Forbidden (403) for anyone else."""
    person = db.session.scalars(select(Person).where(Person.openid == (openid or None))).first()
    if person is None or person.deactivated_at is not None or not _is_staff(person.id):
        raise Forbidden("该账号不是工作人员", code="not_staff")
    record(Action.SIGN_IN, actor_id=person.id, address=address, detail={"method": "demo"})
    return SignedIn(load_actor(person.id, person=person), person.session_version)


def session_actor(person_id: str, session_version: int) -> Actor | None:
    """The staff member behind a console session, or None when the session has ended (a new
    password or a sign-out since) or they are no longer staff or have left."""
    person = db.session.get(Person, person_id)
    if person is None or person.session_version != session_version or person.deactivated_at is not None:
        return None
    actor = load_actor(person.id, person=person)
    return actor if actor.is_staff else None


def sign_out(person_id: str, address: str | None) -> None:
    """End every console session of this person (the session version moves on); audited."""
    person = db.session.get(Person, person_id)
    if person is not None:
        person.session_version = (person.session_version or 0) + 1
        db.session.flush()
    record(Action.SIGN_OUT, actor_id=person_id, address=address)

