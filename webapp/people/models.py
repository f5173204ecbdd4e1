"""People's tables: persons and staff roles, login sessions, bind codes, riders and invites."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import Enum, ForeignKey, Index, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.columns import IdString, UTCDateTime, new_id, utcnow
from webapp.extensions import db
from webapp.privacy.sealing import HASH_LENGTH, SealedString, phone_hash

# --- People and their roles: residents, riders and staff with a scope in the tree.


class Role(str, enum.Enum):
    """Staff roles; a person with no staff role is a resident."""

    GRID_WORKER = "grid_worker"  # 专职网格员, scope: grid
    PROFESSIONAL = "professional"  # 专业网格员, scope: department (+ grids via the matrix)
    COMMUNITY_STAFF = "community_staff"  # 社区工作者, scope: community
    WISH_READER = "wish_reader"  # reads the wish box, scope: community
    STREET_STAFF = "street_staff"  # 街道, scope: street
    ADMIN = "admin"  # everything

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.GRID_WORKER: "网格员",
    Role.PROFESSIONAL: "专业网格员",
    Role.COMMUNITY_STAFF: "社区工作人员",
    Role.WISH_READER: "心语心愿处理人",
    Role.STREET_STAFF: "街道工作人员",
    Role.ADMIN: "管理员",
}


class Person(db.Model):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    # Import key for staff ("one table" person code); residents have none.
    code: Mapped[Optional[str]] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40), default="")
    # Sealed at rest (webapp/privacy/sealing.py); phone_hash, its keyed lookup hash, is kept in
    # step by the listener below and is what a query compares (never the number).
    phone: Mapped[Optional[str]] = mapped_column(SealedString())
    phone_hash: Mapped[Optional[str]] = mapped_column(String(HASH_LENGTH), index=True)
    openid: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    is_away: Mapped[bool] = mapped_column(default=False)
    # Staff who left: no sign-in, no tickets, not in the directory (webapp.people.accounts).
    deactivated_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # The work phone a staff member chose to print on the building signs (full number).
    work_phone: Mapped[Optional[str]] = mapped_column(String(20))
    publish_phone: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Console sign-in (webapp/people/passwords.py): the username is `code`. The password is kept
    # only as werkzeug's salted scrypt hash; null: this person cannot sign in with a password.
    password_hash: Mapped[Optional[str]] = mapped_column(String(255))
    password_set_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # Wrong passwords in a row since the last sign-in; LOGIN_MAX_FAILURES of them lock the
    # account until locked_until.
    failed_sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # Part of every console session's id: raised by a new password and by signing out, it ends
    # every console session of this person at once (cookie sessions cannot be revoked one by one).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    assignments: Mapped[list["StaffAssignment"]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


@event.listens_for(Person.phone, "set")
def _hash_phone(person: Person, value, oldvalue, initiator) -> None:
    person.phone_hash = phone_hash(value)


class StaffAssignment(db.Model):
    """One role of one person over one part of the tree (or one department)."""

    __tablename__ = "staff_assignments"
    __table_args__ = (
        Index(
            "uq_staff_assignments_scope",
            "person_id",
            "role",
            "street_id",
            "community_id",
            "grid_id",
            "department_id",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    street_id: Mapped[Optional[int]] = mapped_column(ForeignKey("streets.id"))
    community_id: Mapped[Optional[int]] = mapped_column(ForeignKey("communities.id"))
    grid_id: Mapped[Optional[int]] = mapped_column(ForeignKey("grids.id"))
    department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("departments.id"))

    person: Mapped[Person] = relationship(back_populates="assignments")
    street = relationship("Street")
    community = relationship("Community")
    grid = relationship("Grid")
    department = relationship("Department")



# --- Login sessions of the mini-program: a bearer token, kept only as its SHA-256 hash.


class AuthSession(db.Model):
    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    # sha256 hex of the bearer token: a leaked table does not log anyone in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # WeChat's session_key, Fernet-encrypted with a key derived from SECRET_KEY; never returned.
    wechat_session_key: Mapped[Optional[str]] = mapped_column(Text)



# --- One-time codes that bind an imported staff member to the WeChat account that redeems it.


class BindCode(db.Model):
    __tablename__ = "bind_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 hex of the code: the code itself is shown once, to whoever issued it.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    issued_by: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # The openid it bound (for the audit trail of who took over the staff account).
    used_openid: Mapped[Optional[str]] = mapped_column(String(64))

    person = relationship("Person", foreign_keys=[person_id])



# --- Delivery riders enrolled by a community as part-time grid workers, and their invites.


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
