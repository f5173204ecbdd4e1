"""Deadlines of a ticket: to accept and to resolve, counted from dispatch.

A category counts its hours one of two ways:

- clock hours (the default): N hours after dispatch, nights, weekends and holidays included;
- working hours (``Category.uses_workdays``): the clock only runs on China's working days, all
  24 hours of them, in Asia/Shanghai. Public holidays stop it and make-up working days (调休,
  e.g. Saturday 2026-10-10 after National Day) run it. So 72 working hours from Wednesday
  2026-09-30 10:00 are 14 h on the 30th, nothing 1-7 October, 24 h on the 8th and the 9th and
  10 h on Saturday the 10th: due 2026-10-10 10:00. A ticket dispatched on a holiday starts its
  clock at 00:00 of the next working day. A deadline that uses up a working day exactly falls
  at 24:00 of that day (00:00 of the next calendar day, whatever that day is).

The calendar is the `calendar_days` table admins keep in the console (webapp.tickets.calendar,
seeded from the `chinesecalendar` package), read from a per-process copy: never a query per
ticket. A year with no row at all falls back to the package, and beyond the package's data
(a year not yet announced) to Monday-Friday with no holidays.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from webapp.registry.models import Category
from webapp.tickets.calendar import current_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A deadline never runs further than this many calendar days (guards a bad calendar).
MAX_CALENDAR_DAYS = 3660


def is_workday(day: date) -> bool:
    """Whether `day` is a working day in China: holidays off, make-up days (调休) on.

    Read from the working-day calendar (webapp.tickets.calendar); without an entry for the
    year, the package's calendar, and beyond it Monday to Friday.
    """
    return current_calendar().is_workday(day)


def add_working_hours(start: datetime, hours: float) -> datetime:
    """The instant `hours` working hours after `start` (24-hour clock, working days only)."""
    if hours < 0:
        raise ValueError("hours must not be negative")
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(SHANGHAI)
    is_workday = current_calendar().is_workday  # one snapshot of the calendar per deadline
    for _ in range(MAX_CALENDAR_DAYS):
        next_midnight = datetime.combine(cursor.date() + timedelta(days=1), time(), SHANGHAI)
        if is_workday(cursor.date()):
            available = next_midnight - cursor
            if remaining <= available:
                return (cursor + remaining).astimezone(start.tzinfo)
            remaining -= available
        cursor = next_midnight
    raise ValueError("working-hour deadline beyond the calendar's range")


def subtract_working_hours(end: datetime, hours: float) -> datetime:
    """The latest instant from which `hours` working hours run out by `end`.

    The inverse of add_working_hours for thresholds: add_working_hours(t, hours) <= end
    exactly when t <= subtract_working_hours(end, hours).
    """
    if hours < 0:
        raise ValueError("hours must not be negative")
    remaining = timedelta(hours=hours)
    cursor = end.astimezone(SHANGHAI)
    is_workday = current_calendar().is_workday
    for _ in range(MAX_CALENDAR_DAYS):
        day = cursor.date()
        day_start = datetime.combine(day, time(), SHANGHAI)
        if cursor == day_start:  # at midnight: the day that just ended is the one to count
            day -= timedelta(days=1)
            day_start = datetime.combine(day, time(), SHANGHAI)
        if is_workday(day):
            available = cursor - day_start
            if remaining <= available:
                return (cursor - remaining).astimezone(end.tzinfo)
            remaining -= available
        cursor = day_start
    raise ValueError("working-hour deadline beyond the calendar's range")


def add_hours(start: datetime, hours: float, *, uses_workdays: bool) -> datetime:
    """`hours` after `start`, in clock hours or (uses_workdays) in working hours."""
    if uses_workdays:
        return add_working_hours(start, hours)
    return start + timedelta(hours=hours)


def subtract_hours(end: datetime, hours: float, *, uses_workdays: bool) -> datetime:
    """`hours` before `end`, in clock hours or (uses_workdays) in working hours."""
    if uses_workdays:
        return subtract_working_hours(end, hours)
    return end - timedelta(hours=hours)


def due_times(category: Category, dispatched_at: datetime) -> tuple[datetime, datetime]:
    """(accept_due_at, resolve_due_at) for a ticket of this category dispatched at this time."""
    workdays = bool(category.uses_workdays)
    return (
        add_hours(dispatched_at, category.accept_hours, uses_workdays=workdays),
        add_hours(dispatched_at, category.resolve_hours, uses_workdays=workdays),
    )


def warning_lead_hours(window_hours: float, fraction: float) -> float:
    """How long before a deadline its handler is warned: the last (1 - fraction) of the window,
    counted the way the category counts (clock or working hours), at least a minute."""
    seconds = round((1.0 - fraction) * window_hours * 3600)  # 0.2 × 24 h is 4 h 48 min, not a hair less
    return max(seconds, 60) / 3600


def time_left_words(due_at: datetime | None, now: datetime) -> str:
    """How long until a deadline, in the words the console shows: "还剩3小时", "还剩2天",
    "还剩20分钟", or once it has passed "已超期5小时", "已超期2天" ("" without a deadline).
    Whole units, rounded down: minutes under an hour, hours under a day, else days."""
    if due_at is None:
        return ""
    seconds = (due_at - now).total_seconds()
    prefix = "还剩" if seconds >= 0 else "已超期"
    seconds = abs(seconds)
    if seconds < 3600:
        return f"{prefix}{max(1, int(seconds // 60))}分钟"
    if seconds < 86400:
        return f"{prefix}{int(seconds // 3600)}小时"
    return f"{prefix}{int(seconds // 86400)}天"
