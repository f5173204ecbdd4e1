"""People and their roles: residents, riders and staff with a scope in the tree."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdString, UTCDateTime, new_id, utcnow


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
    phone: Mapped[Optional[str]] = mapped_column(String(20))
    openid: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    is_away: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    assignments: Mapped[list["StaffAssignment"]] = relationship(
        back_populates="person", cascade="all, delete-orphan"
    )


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
