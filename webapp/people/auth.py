"""Logging in to the mini-program: WeChat (or dev) login, bearer tokens, logout.

A token is 256 random bits handed to the client once; the server keeps only its SHA-256, so
a copy of the table logs nobody in (the token's 256 random bits need no key, and a rotation of
SECRET_KEY logs nobody out). WeChat's session_key stays on the server, encrypted with the
"wechat-session-key" key (webapp/keys.py; it is only ever needed to check data the client signs).
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import String, bindparam, select, type_coerce, update
from sqlalchemy.exc import IntegrityError

from webapp.columns import utcnow
from webapp.errors import Unauthorized
from webapp.extensions import db
from webapp.keys import accepted_secrets, derived_key, legacy_accepted
from webapp.people.actors import Actor, load_actor
from webapp.people.models import AuthSession, Person, Rider, RiderStatus, Role, StaffAssignment
from webapp.reads import PreparedStatement, read_connection, session_in_transaction
from webapp.wechat import get_wechat

TOKEN_BYTES = 32


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _fernet() -> MultiFernet:
    """Encrypts with the "wechat-session-key" key (webapp/keys.py); decrypts with it and with
    the keys still accepted after a rotation (SECRET_KEY_PREVIOUS, and the key of before keys
    were derived: SHA-256 of the secret)."""
    keys = [derived_key("wechat-session-key", secret) for secret in accepted_secrets()]
    if legacy_accepted("wechat-session-key"):
        keys += [hashlib.sha256(b"wechat-session-key:" + s.encode("utf-8")).digest() for s in accepted_secrets()]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in keys])


def encrypt_session_key(session_key: str) -> str:
    return _fernet().encrypt(session_key.encode("utf-8")).decode("ascii")


def decrypt_session_key(stored: str) -> str | None:
    """The WeChat session key of a login, or None if SECRET_KEY changed since."""
    try:
        return _fernet().decrypt(stored.encode("ascii")).decode("utf-8")
    except InvalidToken:
        return None


def person_for_openid(openid: str) -> Person:
    """The person bound to an openid; an unknown openid becomes a new resident."""
    person = db.session.scalars(select(Person).where(Person.openid == openid)).first()
    if person is not None:
        return person
    try:
        with db.session.begin_nested():
            person = Person(openid=openid, name="")
            db.session.add(person)
    except IntegrityError:
        # The same person logged in twice at once; the other request created them.
        person = db.session.scalars(select(Person).where(Person.openid == openid)).one()
    return person


def start_session(person_id: str, *, wechat_session_key: str | None = None) -> tuple[str, int]:
    """Open a session for a person; returns (token, expires_in seconds)."""
    ttl = int(current_app.config["TOKEN_TTL_SECONDS"])
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    db.session.add(
        AuthSession(
            person_id=person_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            wechat_session_key=(
                encrypt_session_key(wechat_session_key) if wechat_session_key else None
            ),
        )
    )
    db.session.flush()
    return token, ttl


def login_with_wechat(js_code: str) -> tuple[str, int, Actor]:
    """Log in with a wx.login() code; returns (token, expires_in, actor).

    Raises Unauthorized for a bad or used code, Forbidden ("wechat_user_blocked") for a user
    WeChat blocks as high-risk, TooManyRequests ("wechat_rate_limited", with Retry-After) when
    WeChat's rate limit is reached, WeChatUnavailable when WeChat cannot be reached or is not
    configured (see WeChatGateway.code_to_session).
    """
    openid, session_key, _unionid = get_wechat().code_to_session(js_code)
    person = person_for_openid(openid)
    token, expires_in = start_session(person.id, wechat_session_key=session_key)
    return token, expires_in, load_actor(person.id)


def login_dev(openid: str) -> tuple[str, int, Actor]:
    """Log in as whoever is bound to openid, without WeChat (demo only: the API door checks
    DEV_LOGIN). An unknown openid becomes a new resident."""
    person = person_for_openid(openid)
    token, expires_in = start_session(person.id)
    return token, expires_in, load_actor(person.id)


def _live_session(token: str | None) -> AuthSession:
    if not token:
        raise Unauthorized()
    session = db.session.scalars(
        select(AuthSession).where(AuthSession.token_hash == hash_token(token))
    ).first()
    if session is None or session.revoked_at is not None or session.expires_at <= utcnow():
        raise Unauthorized("登录已失效，请重新登录", code="session_invalid")
    return session


class _ActorCache:
    """Per process: token hash → (when checked, session expiry, Actor), least recently used
    first, at most MAX entries.

    Every API request authenticates; a person using the mini-program sends several requests
    within seconds (scan, upload, submit, list), and a grid worker refreshes their queue all
    day. Within AUTH_CACHE_SECONDS of the last check the actor is served from memory: the
    session's own expiry is still checked on every hit, and a logout or a revocation made by
    this process takes effect at once; one made by another process (another gunicorn worker,
    the CLI) or a change of someone's staff roles takes effect within AUTH_CACHE_SECONDS.
    """

    MAX = 20_000

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, datetime, Actor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, ttl: float) -> Actor | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            checked, expires_at, actor = hit
            if time.monotonic() - checked >= ttl or expires_at <= utcnow():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return actor

    def put(self, key: str, expires_at: datetime, actor: Actor) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), expires_at, actor)
            self._entries.move_to_end(key)
            while len(self._entries) > self.MAX:
                self._entries.popitem(last=False)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_person(self, person_id: str) -> None:
        with self._lock:
            for key in [k for k, (_c, _e, a) in self._entries.items() if a.person_id == person_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


actor_cache = _ActorCache()


# One query for the session, its person, whether they ride and their staff assignments (a
# row each; one row for a resident): this runs on every request the actor cache misses, on a
# read connection of its own (no BEGIN and COMMIT around it on PostgreSQL), prepared. The
# role arrives as its stored string on either database (_assignments makes it a Role).
_SESSION_ACTOR = (
    select(
        AuthSession.revoked_at, AuthSession.expires_at, AuthSession.person_id, Person.name,
        Person.deactivated_at,
        Rider.id.label("rider_id"), type_coerce(StaffAssignment.role, String).label("role"),
        StaffAssignment.grid_id, StaffAssignment.community_id, StaffAssignment.street_id,
        StaffAssignment.department_id,
    )
    .join(Person, Person.id == AuthSession.person_id)
    .outerjoin(Rider, (Rider.person_id == Person.id) & (Rider.status == RiderStatus.ACTIVE))
    .outerjoin(StaffAssignment, StaffAssignment.person_id == Person.id)
    .where(AuthSession.token_hash == bindparam("token_hash"))
)
_SESSION_ACTOR_ROWS = PreparedStatement(_SESSION_ACTOR)


@dataclass(frozen=True)
class _Assignment:
    """A staff assignment as load_actor reads it."""

    role: Role
    grid_id: int | None
    community_id: int | None
    street_id: int | None
    department_id: int | None


def _assignments(rows) -> list[_Assignment]:
    return [
        _Assignment(Role(r.role), r.grid_id, r.community_id, r.street_id, r.department_id)
        for r in rows
        if r.role is not None
    ]


def _session_actor_rows(token_hash: str) -> list:
    """_SESSION_ACTOR's rows. On PostgreSQL, unless the session's transaction is under way (a
    caller that has just started the session, uncommitted), on a read connection of its own:
    no BEGIN and COMMIT round trips for it. Elsewhere in the session's transaction."""
    params = {"token_hash": token_hash}
    if db.engine.dialect.name == "postgresql" and not session_in_transaction():
        with read_connection() as connection:
            return _SESSION_ACTOR_ROWS.all(connection, params)
    return _SESSION_ACTOR_ROWS.all(db.session.connection(), params)


def authenticate(token: str | None) -> Actor:
    """The actor behind a bearer token, with their roles (as of AUTH_CACHE_SECONDS ago at
    most: see _ActorCache).

    Raises Unauthorized for a missing, unknown, expired or revoked token, or one whose person
    no longer exists.
    """
    if not token:
        raise Unauthorized()
    key = hash_token(token)
    ttl = float(current_app.config["AUTH_CACHE_SECONDS"])
    if ttl > 0:
        actor = actor_cache.get(key, ttl)
        if actor is not None:
            return actor
    rows = _session_actor_rows(key)
    row = rows[0] if rows else None
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        raise Unauthorized("登录已失效，请重新登录", code="session_invalid")
    # Someone who left (people.accounts.deactivate) keeps no staff role, whatever they log in with.
    actor = load_actor(
        row.person_id, is_rider=row.rider_id is not None, name=row.name,
        assignments=_assignments(rows) if row.deactivated_at is None else [],
    )
    if ttl > 0:
        actor_cache.put(key, row.expires_at, actor)
    return actor


def logout(token: str | None) -> None:
    """End the session of this token. Raises Unauthorized if it is not a live session."""
    session = _live_session(token)
    session.revoked_at = utcnow()
    db.session.flush()
    actor_cache.forget(session.token_hash)


def revoke_sessions(person_id: str) -> int:
    """End every live session of a person (e.g. when staff leave); returns how many."""
    result = db.session.execute(
        update(AuthSession)
        .where(AuthSession.person_id == person_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    actor_cache.forget_person(person_id)
    return result.rowcount


def purge_expired_sessions(older_than: timedelta = timedelta(days=30)) -> int:
    """Delete sessions that expired or were revoked more than older_than ago."""
    cutoff = utcnow() - older_than
    result = db.session.execute(
        AuthSession.__table__.delete().where(
            (AuthSession.expires_at < cutoff) | (AuthSession.revoked_at < cutoff)
        )
    )
    return result.rowcount


def roles_of(actor: Actor) -> list[str]:
    """The actor's roles for the client: "resident" first, then staff roles, then "rider"."""
    from webapp.people.actors import RESIDENT, RIDER
    from webapp.people.models import Role

    ordered = [RESIDENT] + [role.value for role in Role] + [RIDER]
    return [role for role in ordered if role in actor.roles]


def _assignment_scope(assignment) -> str:
    from webapp.people.models import Role

    if assignment.role is Role.ADMIN:
        return "全部"
    if assignment.grid is not None:
        return f"{assignment.grid.community.name} {assignment.grid.name}"
    if assignment.community is not None:
        return assignment.community.name
    if assignment.street is not None:
        return assignment.street.name
    if assignment.department is not None:
        return assignment.department.name
    return ""


def dev_accounts() -> list[dict]:
    """Every staff member and rider bound to an openid, to log in as them in the demo.

    Each item: {"openid", "name", "roles", "scope"}; scope says in Chinese where they act,
    e.g. "幸福社区 第1网格".
    """
    from webapp.people.models import Rider, StaffAssignment
    from webapp.people.riders import rider_of

    staff_ids = select(StaffAssignment.person_id)
    rider_ids = select(Rider.person_id)
    people = db.session.scalars(
        select(Person)
        .where(
            Person.openid.is_not(None), Person.deactivated_at.is_(None),
            Person.id.in_(staff_ids) | Person.id.in_(rider_ids),
        )
        .order_by(Person.code.is_(None), Person.code, Person.name, Person.id)
    ).all()
    items = []
    for person in people:
        scopes = [_assignment_scope(a) for a in person.assignments]
        rider = rider_of(person.id)
        if rider is not None:
            scopes.append(f"{rider.community.name} 骑手（{rider.platform}）")
        items.append(
            {
                "openid": person.openid,
                "name": person.name,
                "roles": roles_of(load_actor(person.id)),
                "scope": "；".join(dict.fromkeys(s for s in scopes if s)),
            }
        )
    return items
