"""The working-day calendar: holidays and make-up working days (调休), kept in `calendar_days`.

The table is the source of truth for deadlines counted in working days (webapp.tickets.deadlines):
a day with a row is a working day or not as the row says; a day without one follows the plain
week (Monday to Friday). The `chinesecalendar` package seeds it (`flask calendar seed`, and
`flask demo setup`) for every year the package covers; admins keep it in the console
(/console/calendar): add, change or delete a day, or import a small CSV (format below).

Fallback: a year with no row at all is read from the package (and, beyond the package's data,
as the plain week), so a deployment that has not been seeded yet computes the same deadlines as
before. A year the admins have started entering is read from the table only.

Deadlines are on the submission's hot path, so each process keeps the table in memory (a few
hundred rows) for CALENDAR_CACHE_SECONDS; the process that edits the table drops its copy at
once, the others see the change within that time. Outside an app context (a pure computation)
the package's calendar is used.

The CSV: UTF-8 (a BOM is fine) or GB18030, a header row ``日期,类型,名称`` (or ``date,type,name``),
then one day per row: the date as 2027-02-10, the type 休 / 节假日 / holiday for a day off or
班 / 调休上班 / workday for a make-up working day, and a name such as 春节 (may be blank for a
make-up day). A make-up working day must fall on a Saturday or Sunday.
"""
from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
from flask import current_app, has_app_context
from sqlalchemy import select

from webapp.audit.trail import Action, record
from webapp.columns import utcnow
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.tickets.models import CalendarDay

SHANGHAI = ZoneInfo("Asia/Shanghai")
NAME_LENGTH = 40
HOLIDAY, WORKDAY = "holiday", "workday"
TYPE_LABELS = {HOLIDAY: "节假日（休息）", WORKDAY: "调休上班"}
TYPE_NAMES = {
    "休": HOLIDAY, "休息": HOLIDAY, "节假日": HOLIDAY, "假": HOLIDAY, "holiday": HOLIDAY, "off": HOLIDAY,
    "班": WORKDAY, "上班": WORKDAY, "调休上班": WORKDAY, "补班": WORKDAY, "workday": WORKDAY, "work": WORKDAY,
}
CSV_HEADER = ("日期", "类型", "名称")
_CSV_COLUMNS = {"日期": "date", "date": "date", "类型": "type", "type": "type", "名称": "name", "name": "name"}
MAX_CSV_ROWS = 1000
WARNING_MONTH = 12


def beijing_today() -> date:
    return datetime.now(SHANGHAI).date()


def package_years() -> frozenset[int]:
    """The years the chinesecalendar package has the State Council's notice for."""
    return frozenset(day.year for day in chinese_calendar.holidays) | frozenset(
        day.year for day in chinese_calendar.workdays
    )


def package_is_workday(day: date) -> bool:
    """The package's answer; beyond its data, Monday to Friday."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


# ---------------------------------------------------------------- reading (the cached table)


@dataclass(frozen=True)
class WorkCalendar:
    """The table as of one read: the days that have rows, and the years that have any."""

    days: dict[date, bool]
    years: frozenset[int]

    def is_workday(self, day: date) -> bool:
        known = self.days.get(day)
        if known is not None:
            return known
        if day.year in self.years:
            return day.weekday() < 5
        return package_is_workday(day)


_PACKAGE_ONLY = WorkCalendar({}, frozenset())
_lock = threading.Lock()
_held: tuple[float, WorkCalendar] | None = None


def current_calendar() -> WorkCalendar:
    """The working-day calendar this process uses now (the table, kept CALENDAR_CACHE_SECONDS)."""
    global _held
    if not has_app_context():
        return _PACKAGE_ONLY
    ttl = current_app.config["CALENDAR_CACHE_SECONDS"]
    held = _held
    now = time.monotonic()
    if held is not None and now - held[0] < ttl:
        return held[1]
    with _lock:
        held = _held
        if held is not None and now - held[0] < ttl:
            return held[1]
        rows = db.session.execute(select(CalendarDay.day, CalendarDay.is_workday)).all()
        calendar = WorkCalendar({day: bool(is_workday) for day, is_workday in rows}, frozenset(d.year for d, _ in rows))
        if ttl > 0:
            _held = (now, calendar)
        return calendar


def invalidate_cache() -> None:
    """Forget this process's copy of the table (after an edit here)."""
    global _held
    _held = None


def is_workday(day: date) -> bool:
    return current_calendar().is_workday(day)


# ---------------------------------------------------------------- the admin's view


@dataclass(frozen=True)
class YearSummary:
    year: int
    holidays: int
    workdays: int


def year_summaries() -> list[YearSummary]:
    """Each year with rows: how many days off and make-up working days, newest first."""
    counts: dict[int, list[int]] = {}
    for day, workday in db.session.execute(select(CalendarDay.day, CalendarDay.is_workday)):
        counts.setdefault(day.year, [0, 0])[1 if workday else 0] += 1
    return [YearSummary(y, c[0], c[1]) for y, c in sorted(counts.items(), reverse=True)]


def days_of_year(year: int) -> list[CalendarDay]:
    return list(
        db.session.scalars(
            select(CalendarDay)
            .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
            .order_by(CalendarDay.day)
        )
    )


def day_entry(day: date) -> CalendarDay | None:
    return db.session.get(CalendarDay, day)


def year_has_entries(year: int) -> bool:
    return year in current_calendar().years


def missing_year_warning(today: date) -> str | None:
    """From 1 December, the warning every admin sees while next year has no entries."""
    if today.month < WARNING_MONTH:
        return None
    next_year = today.year + 1
    if year_has_entries(next_year):
        return None
    return f"{next_year}年的节假日安排尚未录入，截止时间将按普通周末计算，请在工作日历中录入。"


# ---------------------------------------------------------------- changing the table


def _check_day(day: date, day_type: str, name: str) -> tuple[bool, str]:
    """(is_workday, name) of a valid entry; raises Invalid with the reason in Chinese."""
    if day_type not in TYPE_LABELS:
        raise Invalid("类型应为“节假日”或“调休上班”", code="calendar_type")
    name = " ".join((name or "").split())
    if len(name) > NAME_LENGTH:
        raise Invalid(f"名称过长（最多{NAME_LENGTH}个字）", code="calendar_name")
    if day_type == WORKDAY and day.weekday() < 5:
        raise Invalid("调休上班日应为周六或周日（周一至周五本来就是工作日）", code="calendar_workday_on_weekday")
    if day_type == HOLIDAY and not name:
        raise Invalid("节假日须填写名称，如“春节”", code="calendar_name_required")
    return day_type == WORKDAY, name


def save_day(day: date, day_type: str, name: str, *, actor_id: str | None, address: str | None = None,
             source: str = "admin") -> CalendarDay:
    """Add or change one day (holiday or make-up working day); audited. Raises Invalid."""
    is_workday, name = _check_day(day, day_type, name)
    entry = db.session.get(CalendarDay, day)
    before = None if entry is None else {"type": WORKDAY if entry.is_workday else HOLIDAY, "name": entry.name}
    if entry is None:
        entry = CalendarDay(day=day)
        db.session.add(entry)
    entry.is_workday, entry.name, entry.source = is_workday, name, source
    entry.updated_by, entry.updated_at = actor_id, utcnow()
    db.session.flush()
    record(
        Action.CALENDAR_DAY_SAVED, actor_id=actor_id, target_type="calendar_day", target_id=day.isoformat(),
        address=address, detail={"type": day_type, "name": name, "before": before},
    )
    invalidate_cache()
    return entry


def delete_day(day: date, *, actor_id: str | None, address: str | None = None) -> None:
    """Remove a day's entry (it follows the plain week again); audited. Raises NotFound."""
    entry = db.session.get(CalendarDay, day)
    if entry is None:
        raise NotFound("该日期没有节假日或调休记录", code="calendar_day_not_found")
    detail = {"type": WORKDAY if entry.is_workday else HOLIDAY, "name": entry.name}
    db.session.delete(entry)
    db.session.flush()
    record(Action.CALENDAR_DAY_DELETED, actor_id=actor_id, target_type="calendar_day",
           target_id=day.isoformat(), address=address, detail=detail)
    invalidate_cache()


def seed_from_package(*, actor_id: str | None = None) -> dict[int, int]:
    """Fill each year the package covers that has no entries yet: its holidays and make-up
    working days. Idempotent; a year already entered (by a seed or an admin) is left alone, so
    an admin's deletion is not undone. Returns year → days added."""
    have = set(db.session.scalars(select(CalendarDay.day)).all())
    years_with_rows = {d.year for d in have}
    added: dict[int, int] = {}
    rows = [(d, False, name) for d, name in chinese_calendar.holidays.items()] + [
        (d, True, name) for d, name in chinese_calendar.workdays.items() if d.weekday() >= 5
    ]
    chinese = {h.value: h.chinese for h in chinese_calendar.Holiday}
    now = utcnow()
    for day, workday, english in sorted(rows):
        if day.year in years_with_rows or day in have:
            continue
        db.session.add(CalendarDay(day=day, is_workday=workday, name=chinese.get(english, english or "")[:NAME_LENGTH],
                                   source="package", updated_by=actor_id, updated_at=now))
        have.add(day)
        added[day.year] = added.get(day.year, 0) + 1
    db.session.flush()
    if added:
        record(Action.CALENDAR_SEEDED, actor_id=actor_id, detail={"years": {str(y): n for y, n in sorted(added.items())}})
    invalidate_cache()
    return added


# ---------------------------------------------------------------- the CSV


@dataclass(frozen=True)
class CsvDay:
    day: date
    day_type: str
    name: str

    @property
    def type_label(self) -> str:
        return TYPE_LABELS[self.day_type]


@dataclass(frozen=True)
class CsvError:
    row: int
    message: str

    def __str__(self) -> str:
        return f"第{self.row}行：{self.message}"


@dataclass
class CsvPreview:
    """What an import would do: the valid days (new or changed), the unchanged, the bad rows."""

    days: list[CsvDay]
    errors: list[CsvError]
    added: int = 0
    changed: int = 0
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.days)


def decode_csv(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid("无法读取文件：请以 UTF-8 编码保存为 CSV", code="calendar_csv_encoding")


def parse_csv(text: str) -> CsvPreview:
    """Check every row of a calendar CSV (see the module docstring); writes nothing."""
    reader = csv.reader(io.StringIO(text, newline=""))
    days: list[CsvDay] = []
    errors: list[CsvError] = []
    columns: dict[str, int] = {}
    seen: dict[date, int] = {}
    for number, raw in enumerate(reader, start=1):
        cells = [cell.strip() for cell in raw]
        if number == 1:
            columns = {_CSV_COLUMNS[c.lower()]: i for i, c in enumerate(cells) if c.lower() in _CSV_COLUMNS}
            missing = [c for c, key in (("日期", "date"), ("类型", "type")) if key not in columns]
            if missing:
                return CsvPreview([], [CsvError(1, "缺少列“" + "”“".join(missing) + "”，表头应为：日期,类型,名称")])
            continue
        if not any(cells):
            continue
        if number > MAX_CSV_ROWS + 1:
            errors.append(CsvError(number, f"行数过多（最多{MAX_CSV_ROWS}行）"))
            break

        def cell(key: str) -> str:
            index = columns.get(key)
            return cells[index] if index is not None and index < len(cells) else ""

        try:
            day = date.fromisoformat(cell("date").replace("/", "-"))
        except ValueError:
            errors.append(CsvError(number, f"日期“{cell('date')}”无效，应为 2027-02-10 的格式"))
            continue
        day_type = TYPE_NAMES.get(cell("type").lower())
        if day_type is None:
            errors.append(CsvError(number, f"类型“{cell('type')}”无效，应为“休”（节假日）或“班”（调休上班）"))
            continue
        try:
            _, name = _check_day(day, day_type, cell("name"))
        except Invalid as error:
            errors.append(CsvError(number, error.message))
            continue
        if day in seen:
            errors.append(CsvError(number, f"日期 {day.isoformat()} 与第{seen[day]}行重复"))
            continue
        seen[day] = number
        days.append(CsvDay(day, day_type, name))
    if not days and not errors:
        errors.append(CsvError(1, "文件中没有日期"))
    return _compare(CsvPreview(days, errors))


def _compare(preview: CsvPreview) -> CsvPreview:
    """Count what the valid days would add, change or leave as they are."""
    if not preview.days:
        return preview
    stored = {
        entry.day: entry
        for entry in db.session.scalars(select(CalendarDay).where(CalendarDay.day.in_([d.day for d in preview.days])))
    }
    for item in preview.days:
        entry = stored.get(item.day)
        if entry is None:
            preview.added += 1
        elif entry.is_workday == (item.day_type == WORKDAY) and entry.name == item.name:
            preview.unchanged += 1
        else:
            preview.changed += 1
    return preview


def import_csv(text: str, *, actor_id: str | None, address: str | None = None) -> CsvPreview:
    """Write every day of a calendar CSV when no row is bad (nothing otherwise); audited once."""
    preview = parse_csv(text)
    if not preview.ok:
        return preview
    now = utcnow()
    for item in preview.days:
        entry = db.session.get(CalendarDay, item.day)
        if entry is None:
            entry = CalendarDay(day=item.day)
            db.session.add(entry)
        entry.is_workday, entry.name, entry.source = item.day_type == WORKDAY, item.name, "csv"
        entry.updated_by, entry.updated_at = actor_id, now
    db.session.flush()
    record(Action.CALENDAR_IMPORTED, actor_id=actor_id, address=address, detail={
        "added": preview.added, "changed": preview.changed, "unchanged": preview.unchanged,
        "years": sorted({d.day.year for d in preview.days}),
    })
    invalidate_cache()
    return preview


def export_csv(years: Iterable[int] | None = None) -> str:
    """The table (or some years of it) in the import's format."""
    query = select(CalendarDay).order_by(CalendarDay.day)
    wanted = set(years or ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for entry in db.session.scalars(query):
        if wanted and entry.day.year not in wanted:
            continue
        writer.writerow((entry.day.isoformat(), "班" if entry.is_workday else "休", entry.name))
    return out.getvalue()


def parse_day(text: str) -> date:
    """A date typed in a form; raises Invalid."""
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise Invalid("日期无效，应为 2027-02-10 的格式", code="calendar_date") from None


def weekday_label(day: date) -> str:
    return "周" + "一二三四五六日"[day.weekday()]

