"""Delivery riders enrolled by a community as part-time grid workers, and their invites."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdString, UTCDateTime, utcnow


class RiderStatus(str, enum.Enum):
    PENDING = "pending"  # enrolled, awaiting the community's approval
    ACTIVE = "active"
    SUSPENDED = "suspended"


class RiderInvite(db.Model):
    """A code a community hands to riders; enrolling with it binds them to that community."""

    __tablename__ = "rider_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    # Null when issued from the command line.
    created_by: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    auto_approve: Mapped[bool] = mapped_column(default=False)
    max_uses: Mapped[Optional[int]] = mapped_column()  # null: unlimited
    uses: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    community = relationship("Community")


class Rider(db.Model):
    __tablename__ = "riders"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    invite_id: Mapped[Optional[int]] = mapped_column(ForeignKey("rider_invites.id"))
    name: Mapped[str] = mapped_column(String(40))
    platform: Mapped[str] = mapped_column(String(40))  # 美团, 饿了么, 顺丰, 京东, ... free text
    status: Mapped[RiderStatus] = mapped_column(
        Enum(RiderStatus, native_enum=False, length=12, values_callable=lambda e: [m.value for m in e])
    )
    approved_by: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    approved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    points: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person = relationship("Person", foreign_keys=[person_id])
    community = relationship("Community")
