"""The working-day calendar: deadlines read the table, through a per-process cache, and fall
back to chinesecalendar only for years without a row."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.tickets import calendar
from webapp.tickets.deadlines import SHANGHAI, add_working_hours, is_workday
from webapp.tickets.models import CalendarDay

SPRING_FESTIVAL_2027 = """日期,类型,名称
2027-02-06,休,春节
2027-02-07,休,春节
2027-02-08,休,春节
2027-02-09,休,春节
2027-02-10,休,春节
2027-02-11,休,春节
2027-02-12,休,春节
2027-02-13,休,春节
2027-02-20,班,春节调休
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    calendar.invalidate_cache()
    yield
    calendar.invalidate_cache()


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_without_rows_deadlines_fall_back_to_the_package(app_ctx):
    assert is_workday(date(2026, 10, 1)) is False  # National Day, from chinesecalendar
    assert is_workday(date(2026, 10, 10)) is True  # a make-up Saturday
    assert is_workday(date(2027, 2, 8)) is True  # beyond the package: a plain Monday


def test_seed_copies_every_year_of_the_package_once(app_ctx):
    added = calendar.seed_from_package()
    db.session.commit()

    assert set(added) == set(calendar.package_years()) and 2026 in added
    again = calendar.seed_from_package()
    assert again == {}
    national_day = db.session.get(CalendarDay, date(2026, 10, 1))
    assert (national_day.is_workday, national_day.name, national_day.source) == (False, "国庆节", "package")
    assert db.session.get(CalendarDay, date(2026, 10, 10)).is_workday is True
    assert db.session.get(CalendarDay, date(2026, 3, 2)) is None  # an ordinary Monday: no row


def test_seed_leaves_a_year_an_admin_has_entered_alone(app_ctx):
    calendar.save_day(date(2026, 12, 31), calendar.HOLIDAY, "试行假日", actor_id=None)
    added = calendar.seed_from_package()
    assert 2026 not in added
    assert db.session.scalar(
        select(func.count()).select_from(CalendarDay).where(CalendarDay.day >= date(2026, 1, 1))
    ) == 1


def test_a_year_with_rows_is_read_from_the_table_only(app_ctx):
    calendar.save_day(date(2026, 10, 9), calendar.HOLIDAY, "调整", actor_id=None)
    db.session.commit()
    # 2026 now has rows: National Day (not entered) is a plain Thursday, the 9th is off.
    assert is_workday(date(2026, 10, 1)) is True
    assert is_workday(date(2026, 10, 9)) is False
    assert is_workday(date(2026, 10, 10)) is False  # a Saturday, no make-up row


def test_deadlines_skip_the_spring_festival_entered_for_2027(app_ctx):
    preview = calendar.import_csv(SPRING_FESTIVAL_2027, actor_id=None)
    db.session.commit()
    assert (preview.added, preview.changed, preview.errors) == (9, 0, [])

    # Friday 5 Feb 2027 10:00 + 24 working hours: 14 h on the 5th, the festival 6-13 off,
    # Sunday 14 off, 10 h on Monday 15 Feb.
    assert add_working_hours(local(2027, 2, 5, 10, 0), 24) == local(2027, 2, 15, 10, 0)
    # The make-up Saturday counts.
    assert add_working_hours(local(2027, 2, 19, 10, 0), 24) == local(2027, 2, 20, 10, 0)


def test_the_table_is_cached_per_process_and_dropped_by_an_edit(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_CACHE_SECONDS", 60)
    statements = []

    def count(conn, cursor, statement, *args):
        if "calendar_days" in statement:
            statements.append(statement)

    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for hour in range(10):
            add_working_hours(local(2027, 2, 5, hour, 0), 48)
        assert len(statements) == 1  # one read for every deadline within the minute

        calendar.save_day(date(2027, 2, 8), calendar.HOLIDAY, "春节", actor_id=None)
        db.session.commit()
        assert is_workday(date(2027, 2, 8)) is False  # the editing process sees it at once
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_another_process_sees_an_edit_within_the_ttl(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "CALENDAR_CACHE_SECONDS", 60)
    clock = [1000.0]
    monkeypatch.setattr(calendar.time, "monotonic", lambda: clock[0])
    assert is_workday(date(2027, 2, 8)) is True
    # Another process's edit: a row written without this process's invalidation.
    db.session.add(CalendarDay(day=date(2027, 2, 8), is_workday=False, name="春节"))
    db.session.commit()
    assert is_workday(date(2027, 2, 8)) is True  # still the cached copy
    clock[0] += 61
    assert is_workday(date(2027, 2, 8)) is False


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("2027-13-01,休,春节", "日期“2027-13-01”无效"),
        ("2027-02-08,放假,春节", "类型“放假”无效"),
        ("2027-02-08,班,调休", "调休上班日应为周六或周日"),
        ("2027-02-08,休,", "节假日须填写名称"),
    ],
)
def test_csv_rows_are_checked_with_reasons(app_ctx, line, reason):
    preview = calendar.parse_csv("日期,类型,名称\n2027-02-09,休,春节\n" + line + "\n")
    assert [str(e) for e in preview.errors] == [f"第3行：{e.message}" for e in preview.errors]
    assert reason in preview.errors[0].message and preview.errors[0].row == 3
    assert calendar.import_csv("日期,类型,名称\n" + line + "\n", actor_id=None).ok is False
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == 0


def test_duplicate_dates_and_a_missing_header_are_refused(app_ctx):
    preview = calendar.parse_csv("日期,类型,名称\n2027-02-09,休,春节\n2027-02-09,休,春节\n")
    assert [str(e) for e in preview.errors] == ["第3行：日期 2027-02-09 与第2行重复"]
    assert "缺少列" in str(calendar.parse_csv("day,kind\n2027-02-09,休\n").errors[0])


def test_export_round_trips_through_import(app_ctx):
    calendar.import_csv(SPRING_FESTIVAL_2027, actor_id=None)
    text = calendar.export_csv([2027])
    assert text.splitlines()[0] == "日期,类型,名称"
    preview = calendar.parse_csv(text)
    assert (preview.added, preview.changed, preview.unchanged) == (0, 0, 9)


@pytest.mark.parametrize(
    ("today", "warned"),
    [
        (date(2026, 11, 30), False),
        (date(2026, 12, 1), True),
        (date(2026, 12, 31), True),
    ],
)
def test_the_december_warning_names_next_year_until_it_has_entries(app_ctx, today, warned):
    message = calendar.missing_year_warning(today)
    assert (message is not None) is warned
    if warned:
        assert message.startswith("2027年的节假日安排尚未录入")
    calendar.import_csv(SPRING_FESTIVAL_2027, actor_id=None)
    assert calendar.missing_year_warning(today) is None


def test_edits_are_audited(app_ctx):
    calendar.save_day(date(2027, 2, 8), calendar.HOLIDAY, "春节", actor_id="admin-1")
    calendar.delete_day(date(2027, 2, 8), actor_id="admin-1")
    calendar.import_csv(SPRING_FESTIVAL_2027, actor_id="admin-1")
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["calendar_day_saved", "calendar_day_deleted", "calendar_imported"]
