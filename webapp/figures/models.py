"""The figures' one table: the daily rollup of the tickets whose figures can no longer change."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Enum, Float, Index
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.registry.models import TicketKind

# The counts a settled ticket adds to its row (webapp.figures.rollup); overdue_now is always 0
# for a settled ticket (it is closed, rejected or merged), so it has no column.
ROLLUP_COUNTS = (
    "tickets_in", "accepted_on_time", "due_for_acceptance", "resolved_on_time",
    "due_for_resolution", "rated", "satisfied", "closed",
)


class FiguresDaily(db.Model):
    """Per Beijing day of creation × grid × category × kind: the sums of the figures' counts
    over the settled tickets (tickets.rolled_up), and of their hours to close.

    The place columns repeat the grid's street and community (copied from the tickets, as the
    tickets copy them) so that a scope's condition reads the same columns here as on tickets.
    """

    __tablename__ = "figures_daily"
    __table_args__ = (Index("ix_figures_daily_day", "day"),)

    street_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    community_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    grid_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    category_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[TicketKind] = mapped_column(
        Enum(TicketKind, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e]),
        primary_key=True,
    )
    tickets_in: Mapped[int] = mapped_column(default=0)
    accepted_on_time: Mapped[int] = mapped_column(default=0)
    due_for_acceptance: Mapped[int] = mapped_column(default=0)
    resolved_on_time: Mapped[int] = mapped_column(default=0)
    due_for_resolution: Mapped[int] = mapped_column(default=0)
    rated: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
    hours_to_close: Mapped[float] = mapped_column(Float, default=0.0)
