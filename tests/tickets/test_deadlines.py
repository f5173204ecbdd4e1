"""Deadlines: clock hours, and working hours on China's calendar with holidays and 调休."""
from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest

from webapp.tickets.deadlines import SHANGHAI, add_working_hours, due_times, is_workday


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def category(accept_hours=2, resolve_hours=72, uses_workdays=False):
    return SimpleNamespace(
        accept_hours=accept_hours, resolve_hours=resolve_hours, uses_workdays=uses_workdays
    )


def test_due_times_clock_hours_run_through_nights_weekends_and_holidays():
    dispatched = local(2026, 9, 30, 10, 0)  # the eve of National Day
    accept_due, resolve_due = due_times(category(2, 72), dispatched)
    assert accept_due == local(2026, 9, 30, 12, 0)
    assert resolve_due == local(2026, 10, 3, 10, 0)


def test_due_times_keep_utc_in_and_out():
    dispatched = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)  # Monday 09:30 in Shanghai
    accept_due, resolve_due = due_times(category(2, 24, uses_workdays=True), dispatched)
    assert accept_due == datetime(2026, 3, 2, 3, 30, tzinfo=timezone.utc)
    assert accept_due.tzinfo == timezone.utc
    assert resolve_due == datetime(2026, 3, 3, 1, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday, make-up working day (调休)
        (date(2026, 9, 20), True),  # Sunday, make-up working day
        (date(2026, 2, 14), True),  # Saturday before the Spring Festival, make-up day
        (date(2026, 2, 17), False),  # Spring Festival
        (date(2026, 2, 28), True),  # Saturday, make-up day
        (date(2026, 3, 7), False),  # an ordinary Saturday
        (date(2027, 3, 8), True),  # beyond the data: Monday-Friday
        (date(2027, 3, 6), False),
    ],
)
def test_is_workday_follows_the_2026_calendar(day, expected):
    assert is_workday(day) is expected


def test_working_hours_skip_national_day_and_count_the_make_up_saturday():
    accept_due, resolve_due = due_times(
        category(8, 72, uses_workdays=True), local(2026, 9, 30, 10, 0)
    )
    assert accept_due == local(2026, 9, 30, 18, 0)
    # 14 h on 30 Sep, nothing 1-7 Oct, 24 h on the 8th and the 9th, 10 h on Saturday the 10th.
    assert resolve_due == local(2026, 10, 10, 10, 0)


def test_working_hours_cross_the_spring_festival():
    dispatched = local(2026, 2, 13, 20, 0)  # Friday evening
    accept_due, resolve_due = due_times(category(8, 72, uses_workdays=True), dispatched)
    assert accept_due == local(2026, 2, 14, 4, 0)  # Saturday the 14th is a make-up day
    # 4 h on the 13th, 24 h on the 14th, 15-23 Feb off, 24 h on the 24th, 20 h on the 25th.
    assert resolve_due == local(2026, 2, 25, 20, 0)


def test_working_hours_dispatched_on_a_holiday_start_on_the_next_working_day():
    accept_due, _ = due_times(category(2, 24, uses_workdays=True), local(2026, 10, 3, 15, 0))
    assert accept_due == local(2026, 10, 8, 2, 0)


def test_working_hours_that_fill_a_day_end_at_its_midnight():
    assert add_working_hours(local(2026, 10, 9, 0, 0), 24) == local(2026, 10, 10, 0, 0)
    assert add_working_hours(local(2026, 10, 9, 0, 0), 24.5) == local(2026, 10, 10, 0, 30)


def test_working_hours_beyond_the_calendar_data_use_monday_to_friday():
    friday = local(2027, 1, 8, 10, 0)
    assert add_working_hours(friday, 24) == local(2027, 1, 11, 10, 0)


@pytest.mark.parametrize(
    "end",
    [
        local(2026, 10, 10, 10, 0),  # make-up Saturday after National Day
        local(2026, 10, 8, 0, 0),  # midnight after the holiday week
        local(2026, 10, 4, 12, 0),  # inside the holiday
        local(2026, 2, 25, 20, 0),
        local(2026, 3, 9, 0, 0),  # Monday midnight after a weekend
    ],
)
@pytest.mark.parametrize("hours", [0.5, 2, 24, 72])
def test_subtract_working_hours_is_the_threshold_of_add_working_hours(end, hours):
    from datetime import timedelta

    from webapp.tickets.deadlines import subtract_working_hours

    threshold = subtract_working_hours(end, hours)
    assert add_working_hours(threshold, hours) <= end
    assert add_working_hours(threshold + timedelta(seconds=1), hours) > end
