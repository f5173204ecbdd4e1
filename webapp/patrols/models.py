"""Patrol check-ins (一日双巡): a grid worker scans a building's code on their rounds."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.columns import IdString, UTCDateTime, utcnow
from webapp.extensions import db


class Patrol(db.Model):
    __tablename__ = "patrols"
    __table_args__ = (
        # "Was this building visited today", "the grid's rounds today", "my rounds today".
        Index("ix_patrols_building_checked_in", "building_id", "checked_in_at"),
        Index("ix_patrols_grid_checked_in", "grid_id", "checked_in_at"),
        Index("ix_patrols_person_checked_in", "person_id", "checked_in_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"))
    # Copied from the building at check-in, so that a later re-gridding keeps the history.
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))
    checked_in_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    building = relationship("Building")
