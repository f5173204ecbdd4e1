"""The registry's tables: the tree of places, categories and the matrix, the printed codes."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.columns import IdString, UTCDateTime, new_id, utcnow
from webapp.extensions import db

# --- The strict tree of places: street → community → grid → building → unit.


class Street(db.Model):
    __tablename__ = "streets"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    # Prefix of human ticket numbers such as JY-20261122-0042.
    ticket_prefix: Mapped[str] = mapped_column(String(8))

    communities: Mapped[list["Community"]] = relationship(back_populates="street")


class Community(db.Model):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    street_id: Mapped[int] = mapped_column(ForeignKey("streets.id"), index=True)
    # The community office's phone, printed on its signs (and for staff without a work phone).
    office_phone: Mapped[Optional[str]] = mapped_column(String(20))

    street: Mapped[Street] = relationship(back_populates="communities")
    grids: Mapped[list["Grid"]] = relationship(back_populates="community")


class Grid(db.Model):
    """One grid (网格); its full-time worker owns every category no department owns."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    worker_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    standin_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))

    community: Mapped[Community] = relationship(back_populates="grids")
    buildings: Mapped[list["Building"]] = relationship(back_populates="grid")
    worker = relationship("Person", foreign_keys=[worker_id])
    standin = relationship("Person", foreign_keys=[standin_id])


class Building(db.Model):
    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(200))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"), index=True)

    grid: Mapped[Grid] = relationship(back_populates="buildings")
    units: Mapped[list["Unit"]] = relationship(
        back_populates="building", order_by="Unit.sort_order"
    )


class Unit(db.Model):
    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("building_id", "name", name="uq_units_building_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    name: Mapped[str] = mapped_column(String(40))
    sort_order: Mapped[int] = mapped_column(default=0)

    building: Mapped[Building] = relationship(back_populates="units")



# --- Departments, problem categories and the grid × category responsibility matrix.


class TicketKind(str, enum.Enum):
    REPORT = "report"  # 随手拍
    WISH = "wish"  # 心语心愿


class Department(db.Model):
    """A department or utility whose professional grid workers own some categories."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[TicketKind] = mapped_column(
        Enum(TicketKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e])
    )
    department_id: Mapped[Optional[int]] = mapped_column(ForeignKey("departments.id"))
    accept_hours: Mapped[int] = mapped_column(default=2)
    resolve_hours: Mapped[int] = mapped_column(default=72)
    # Deadlines count working days (China's calendar) rather than clock hours.
    uses_workdays: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    department: Mapped[Optional[Department]] = relationship()


class Responsibility(db.Model):
    """Who answers for one category in one grid (一格一员 / 一员多格), with a stand-in."""

    __tablename__ = "responsibilities"
    __table_args__ = (
        UniqueConstraint("grid_id", "category_id", name="uq_responsibilities_grid_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    standin_id: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))

    grid = relationship("Grid")
    category: Mapped[Category] = relationship()
    person = relationship("Person", foreign_keys=[person_id])
    standin = relationship("Person", foreign_keys=[standin_id])



# --- The printed QR codes: one active code per building, revocable one at a time.


class BuildingCode(db.Model):
    __tablename__ = "building_codes"
    __table_args__ = (
        # At most one active code per building, enforced by the database.
        Index(
            "uq_building_codes_active",
            "building_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    building = relationship("Building")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ReplyTemplate(db.Model):
    """A reply staff pick when resolving or answering (per category; none: every category)."""

    __tablename__ = "reply_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[Optional[int]] = mapped_column(ForeignKey("categories.id"), index=True)
    text: Mapped[str] = mapped_column(String(300))
    sort_order: Mapped[int] = mapped_column(default=0)


class SignJob(db.Model):
    """One print of a community's or a street's signs, made in the background (its progress)."""

    __tablename__ = "sign_jobs"

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    scope_kind: Mapped[str] = mapped_column(String(20))  # "community" or "street"
    scope_code: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued/running/done/failed
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    file_path: Mapped[Optional[str]] = mapped_column(String(255))
    error: Mapped[Optional[str]] = mapped_column(String(300))
    created_by: Mapped[Optional[str]] = mapped_column(IdString())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
