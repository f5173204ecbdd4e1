"""Binding an imported staff member to the WeChat account they log in with.

Staff come from the registry import without an openid. A supervisor issues a one-time bind code
for one staff member (`flask staff bind-code` or POST /api/v1/work/bind-codes); the staff member
logs into the mini-program with WeChat, which makes a plain resident for their openid, and
redeems the code (POST /api/v1/auth/bind). Then:

- the openid moves from that temporary resident to the staff member;
- the temporary resident's login sessions (and its subscribe-message consents) move with it,
  so the token in use now acts as the staff member: no new token is issued;
- the temporary resident is deleted. It must be fresh: if it already reported, said me-too,
  uploaded photos, enrolled as a rider or holds a staff role, the bind is refused (409) rather
  than moving a resident's history into a staff account; that person asks an admin;
- if the staff member was bound to another WeChat account before (a new phone), that binding
  ends and its sessions are revoked.

Bind codes are 12 characters (about 59 random bits) from an alphabet without look-alikes, are
stored only as a keyed hash, expire after BIND_CODE_HOURS (24 h), work once, and a new code
for the same person ends the previous unused one. A wrong, expired or used code is 422.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, or_, select, update

from webapp.columns import utcnow
from webapp.errors import Conflict, Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.keys import verification_keys
from webapp.notifications.models import SubscriptionQuota
from webapp.people.actors import Actor, load_actor
from webapp.people.auth import actor_cache
from webapp.people.models import AuthSession, BindCode, Person, Rider, Role, StaffAssignment
from webapp.registry.models import Responsibility
from webapp.tickets import wishes
from webapp.tickets.models import MeToo, Photo, Ticket

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone
CODE_LENGTH = 12
SUPERVISOR_ROLES = frozenset({Role.COMMUNITY_STAFF.value, Role.STREET_STAFF.value, Role.ADMIN.value})


def _code_hashes(code: str) -> list[str]:
    """The code's hash ("bind-code" key, webapp/keys.py) under every key still accepted, the
    current one first (the one a new code stores): a code issued before a rotation of
    SECRET_KEY, or before keys were derived, still redeems until it expires."""
    message = f"bind:{code}".encode()
    return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in verification_keys("bind-code")]


def normalize_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def format_code(code: str) -> str:
    """ABCD-EFGH-JKMN: easier to read out and type."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _staff_person(person_id: str) -> Person | None:
    person = db.session.get(Person, person_id) if person_id else None
    if person is None:
        return None
    has_role = db.session.scalar(
        select(exists().where(StaffAssignment.person_id == person.id))
    )
    return person if has_role else None


def issue_bind_code(
    person_id: str, *, issued_by: str | None = None, now: datetime | None = None
) -> tuple[BindCode, str]:
    """A new bind code for a staff member, without checking who asks (the command line).

    Returns (row, code); the code is shown once and kept only as a hash. Ends the person's
    previous unused codes. Raises NotFound for a person who is not staff.
    """
    now = now or utcnow()
    person = _staff_person(person_id)
    if person is None:
        raise NotFound("未找到该工作人员", code="staff_not_found")
    db.session.execute(
        update(BindCode)
        .where(BindCode.person_id == person.id, BindCode.used_at.is_(None), BindCode.expires_at > now)
        .values(expires_at=now)
    )
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    hours = float(current_app.config.get("BIND_CODE_HOURS", 24))
    row = BindCode(
        code_hash=_code_hashes(code)[0],
        person_id=person.id,
        issued_by=issued_by,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    db.session.add(row)
    db.session.flush()
    return row, format_code(code)


def _covers_place(actor: Actor, *, grid_id=None, community_id=None, street_id=None) -> bool:
    from webapp.registry.models import Community, Grid

    if grid_id is not None:
        community_id = db.session.get(Grid, grid_id).community_id
    if community_id is not None:
        community = db.session.get(Community, community_id)
        return actor.supervises_community(community.id, community.street_id)
    return street_id is not None and actor.supervises_street(street_id)


def _covers(actor: Actor, assignment: StaffAssignment) -> bool:
    """Whether one role of the target lies within the supervisor's scope."""
    if actor.is_admin:
        return True
    if assignment.role is Role.ADMIN:
        return False
    if assignment.department_id is not None:  # a professional: through the grids they answer for
        grid_ids = db.session.scalars(
            select(Responsibility.grid_id).where(
                or_(
                    Responsibility.person_id == assignment.person_id,
                    Responsibility.standin_id == assignment.person_id,
                )
            )
        ).all()
        return bool(grid_ids) and all(_covers_place(actor, grid_id=g) for g in grid_ids)
    return _covers_place(
        actor,
        grid_id=assignment.grid_id,
        community_id=assignment.community_id,
        street_id=assignment.street_id,
    )


def create_bind_code(actor: Actor, person_id: str, *, now: datetime | None = None) -> tuple[BindCode, str]:
    """A bind code issued by a supervisor (community staff, street staff, admin).

    Every role of the target must lie within the supervisor's scope (community staff bind the
    workers of their grids and their colleagues, street staff everyone of their street).
    Raises Forbidden for anyone else, NotFound for a person who is not staff or out of scope.
    """
    if not actor.is_staff or not (actor.roles & SUPERVISOR_ROLES):
        raise Forbidden("只有社区、街道工作人员可以签发绑定码", code="supervisor_only")
    person = _staff_person(person_id)
    if person is None or not all(_covers(actor, a) for a in person.assignments):
        raise NotFound("未找到该工作人员", code="staff_not_found")
    return issue_bind_code(person.id, issued_by=actor.person_id, now=now)


def _bad_code() -> Invalid:
    message = "绑定码无效或已过期，请联系社区重新获取"
    return Invalid(message, code="bind_code_invalid", errors={"bind_code": [message]})


def _has_history(person: Person) -> bool:
    """Anything a resident leaves behind that must not silently move into a staff account."""
    keys = wishes.reporter_keys(person.id)
    checks = (
        exists().where(or_(Ticket.reporter_id == person.id, Ticket.reporter_key.in_(keys))),
        exists().where(MeToo.person_id == person.id),
        exists().where(Photo.uploader_id == person.id),
        exists().where(Rider.person_id == person.id),
        exists().where(StaffAssignment.person_id == person.id),
    )
    return any(db.session.scalar(select(check)) for check in checks)


def redeem_bind_code(actor: Actor, code: str, *, now: datetime | None = None) -> Actor:
    """Bind the caller's WeChat account to the staff member the code was issued for.

    Returns the staff member as an Actor; the caller's token now acts as them. Raises Invalid
    (422) for an unknown, expired or used code, or a caller without a WeChat openid; Conflict
    (409) when the caller's own account has history (see the module docstring).
    """
    now = now or utcnow()
    normalized = normalize_code(code or "")
    row = (
        db.session.scalars(select(BindCode).where(BindCode.code_hash.in_(_code_hashes(normalized)))).first()
        if len(normalized) == CODE_LENGTH
        else None
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise _bad_code()
    current = db.session.get(Person, actor.person_id)
    if current is None or not current.openid:
        message = "请先在微信小程序中登录，再进行绑定"
        raise Invalid(message, code="wechat_login_required", errors={"bind_code": [message]})
    staff = db.session.get(Person, row.person_id)
    if current.id != staff.id and _has_history(current):  # checked first: a refusal writes nothing
        raise Conflict(
            "当前微信账号已有反映记录或其他身份，不能直接绑定工作人员账号，请联系管理员处理",
            code="account_has_history",
        )
    # Single use even under concurrent redemption: only one conditional UPDATE wins.
    claimed = db.session.execute(
        update(BindCode)
        .where(BindCode.id == row.id, BindCode.used_at.is_(None))
        .values(used_at=now, used_openid=current.openid)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise _bad_code()
    if current.id == staff.id:  # already bound to this very account
        return load_actor(staff.id)
    openid = current.openid
    if staff.openid is not None:  # a new phone: the old WeChat account loses the staff login
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.person_id == staff.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    current.openid = None
    db.session.flush()
    staff.openid = openid
    db.session.execute(
        update(AuthSession).where(AuthSession.person_id == current.id).values(person_id=staff.id)
    )
    # Tokens cached as the old accounts' actors (see auth.actor_cache) are read again.
    actor_cache.forget_person(current.id)
    actor_cache.forget_person(staff.id)
    _move_consents(current.id, staff.id)
    db.session.flush()
    db.session.expunge(current)
    db.session.execute(delete(Person).where(Person.id == current.id))
    db.session.flush()
    return load_actor(staff.id)


def _move_consents(from_id: str, to_id: str) -> None:
    """Subscribe-message consents belong to the WeChat account: they follow the openid."""
    rows = db.session.scalars(select(SubscriptionQuota).where(SubscriptionQuota.person_id == from_id)).all()
    for row in rows:
        mine = db.session.scalars(
            select(SubscriptionQuota).where(
                SubscriptionQuota.person_id == to_id, SubscriptionQuota.template_id == row.template_id
            )
        ).first()
        if mine is None:
            row.person_id = to_id
        else:
            mine.remaining += row.remaining
            db.session.delete(row)
    db.session.flush()
