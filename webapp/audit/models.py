"""The audit trail's one table: a row per thing done, never changed or deleted."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Index, String, event
from sqlalchemy.orm import Mapped, mapped_column

from webapp.columns import UTCDateTime, utcnow
from webapp.extensions import db


class AuditEntry(db.Model):
    """One action: a sign-in, a failed one, a password set, later every console action.

    actor_id and target_id are plain values, not foreign keys: the trail outlives whatever it
    names (an erased or deleted person stays "someone did this" in the trail).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        # The per-address sign-in limit counts one address's recent failures.
        Index("ix_audit_entries_address_action_at", "address", "action", "at"),
        Index("ix_audit_entries_actor_id_at", "actor_id", "at"),
        Index("ix_audit_entries_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # The person who acted (null: nobody known, e.g. a sign-in with an unknown username).
    actor_id: Mapped[Optional[str]] = mapped_column(String(22))
    action: Mapped[str] = mapped_column(String(40))  # an Action value
    target_type: Mapped[Optional[str]] = mapped_column(String(40))
    target_id: Mapped[Optional[str]] = mapped_column(String(64))
    # The client's address as the app sees it (behind nginx: TRUSTED_PROXY_COUNT).
    address: Mapped[Optional[str]] = mapped_column(String(45))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(mapper, connection, target):
    raise RuntimeError("audit entries are append-only: an AuditEntry cannot be changed")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise RuntimeError("audit entries are append-only: an AuditEntry cannot be deleted")
