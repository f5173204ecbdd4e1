"""The strict tree of places: street → community → grid → building → unit."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdString


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
