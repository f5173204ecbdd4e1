"""Departments, problem categories and the grid × category responsibility matrix."""
from __future__ import annotations

import enum
from typing import Optional

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdString


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
