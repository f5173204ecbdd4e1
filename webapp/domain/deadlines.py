"""Deadlines of a ticket: to accept and to resolve, counted from dispatch."""
from __future__ import annotations

from datetime import datetime, timedelta

from webapp.models import Category


def due_times(category: Category, dispatched_at: datetime) -> tuple[datetime, datetime]:
    """(accept_due_at, resolve_due_at) for a ticket of this category dispatched at this time."""
    return (
        dispatched_at + timedelta(hours=category.accept_hours),
        dispatched_at + timedelta(hours=category.resolve_hours),
    )
