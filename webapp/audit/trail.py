"""Writing to the audit trail, and reading it back.

The trail is append-only: this module adds rows and reads them; it has no function that
changes or deletes one, and the model refuses an update or a delete through the ORM
(webapp/audit/models.py). Rows are written in the caller's transaction, so an action and its
entry commit (or roll back) together; a refused action whose refusal must be remembered (a
wrong password) is committed by its door before it answers.
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import select

from webapp.audit.models import AuditEntry
from webapp.columns import utcnow
from webapp.extensions import db


class Action(str, enum.Enum):
    SIGN_IN = "sign_in"  # a console sign-in (detail.method: password or demo)
    SIGN_IN_FAILED = "sign_in_failed"  # wrong username or password, or not staff
    ACCOUNT_LOCKED = "account_locked"  # the failure that locked the account
    SIGN_IN_LOCKED = "sign_in_locked"  # an attempt refused because the account is locked
    SIGN_IN_THROTTLED = "sign_in_throttled"  # refused: too many failures from the address
    SIGN_OUT = "sign_out"
    PASSWORD_SET = "password_set"  # detail.by: cli, demo


ACTION_LABELS = {
    Action.SIGN_IN: "登录",
    Action.SIGN_IN_FAILED: "登录失败",
    Action.ACCOUNT_LOCKED: "账号锁定",
    Action.SIGN_IN_LOCKED: "账号锁定期间尝试登录",
    Action.SIGN_IN_THROTTLED: "地址登录失败过多被拒绝",
    Action.SIGN_OUT: "退出登录",
    Action.PASSWORD_SET: "设置密码",
}


def record(
    action: Action | str,
    *,
    actor_id: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    address: str | None = None,
    detail: dict | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry (flushed, not committed) and return it."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor_id=actor_id,
        action=Action(action).value,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        address=(address or None) and address[:45],
        detail=dict(detail or {}),
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def times_since(actions: set[Action], *, address: str, since: datetime, limit: int) -> list[datetime]:
    """The times of the newest `limit` entries of these actions from one address, newest first."""
    return list(
        db.session.scalars(
            select(AuditEntry.at)
            .where(
                AuditEntry.address == address,
                AuditEntry.action.in_([a.value for a in actions]),
                AuditEntry.at > since,
            )
            .order_by(AuditEntry.at.desc())
            .limit(limit)
        )
    )


def entries(*, actor_id: str | None = None, action: Action | None = None, limit: int = 100) -> list[AuditEntry]:
    """The newest entries, optionally of one actor or one action."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        query = query.where(AuditEntry.action == Action(action).value)
    return list(db.session.scalars(query))
