"""A period of Beijing days [start, end): the end day is excluded."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 366
RECUR_WEEKS = 13  # hotspots recur in three or more distinct weeks of the last 13
RECUR_MIN_WEEKS = 3


def beijing_midnight(day: date) -> datetime:
    """00:00 of a Beijing day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=BEIJING).astimezone(timezone.utc)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # excluded

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("the period must end after it starts")

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return beijing_midnight(self.start), beijing_midnight(self.end)

    @property
    def first_monday(self) -> date:
        """The Monday of the week the period starts in: weeks are counted from it."""
        return monday_of(self.start)

    def week_starts(self) -> list[date]:
        """The Mondays of every week the period touches (the first and last may be partial)."""
        weeks, monday = [], self.first_monday
        while monday < self.end:
            weeks.append(monday)
            monday += timedelta(days=7)
        return weeks

    @property
    def recur_start(self) -> date:
        """The first day of the last RECUR_WEEKS weeks, the week of the period's last day
        included."""
        return monday_of(self.end - timedelta(days=1)) - timedelta(weeks=RECUR_WEEKS - 1)


def this_month(now: datetime) -> Period:
    """The default period: this Beijing month so far, today included."""
    today = now.astimezone(BEIJING).date()
    return Period(today.replace(day=1), today + timedelta(days=1))


DATE_FORMAT_MESSAGE = "日期格式应为 YYYY-MM-DD"


class PeriodError(ValueError):
    """A period a person asked for that cannot be: the field it is about and why, in Chinese."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_day(text: str | None, field: str) -> date | None:
    """A YYYY-MM-DD day from a form or query string, None if empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(field, DATE_FORMAT_MESSAGE) from None


def period_from(start: date | None, end: date | None, now: datetime) -> Period:
    """The period [start, end) a person asked for; a missing end is tomorrow (today included),
    a missing start the first day of the end's month. At most MAX_DAYS days."""
    if end is None:
        end = now.astimezone(BEIJING).date() + timedelta(days=1)
    if start is None:
        start = (end - timedelta(days=1)).replace(day=1)
    if not start < end:
        raise PeriodError("from", "开始日期应早于结束日期")
    if (end - start).days > MAX_DAYS:
        raise PeriodError("to", f"统计期间最长{MAX_DAYS}天")
    return Period(start, end)
