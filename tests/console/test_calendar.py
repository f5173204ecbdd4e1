"""The working-day calendar page: admins edit days, import a CSV after a preview, and see the
December warning on every console page while next year has no entries."""
from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import select

from tests.console.helpers import csrf_token, sign_in_as
from tests.factories import make_person, make_registry
from webapp.audit.models import AuditEntry
from webapp.console import calendar as calendar_page
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment
from webapp.tickets import calendar
from webapp.tickets.models import CalendarDay

CSV = "日期,类型,名称\n2027-02-06,休,春节\n2027-02-07,休,春节\n2027-02-20,班,春节调休\n"


@pytest.fixture
def registry(app_ctx):
    calendar.invalidate_cache()
    return make_registry()


@pytest.fixture
def admin(registry):
    person = make_person("刘洋", "13900000001", code="P-ADMIN")
    db.session.add(StaffAssignment(person=person, role=Role.ADMIN))
    db.session.commit()
    return person


@pytest.fixture
def today(monkeypatch):
    """Fix the console's "today" (Beijing) for the December warning."""
    fixed = {"day": date(2026, 11, 29)}
    monkeypatch.setattr(calendar_page, "beijing_today", lambda: fixed["day"])
    return fixed


def _post(client, path, data, page="/console/calendar", **kwargs):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data}, **kwargs)


def test_calendar_is_for_admins_only(client, registry):
    sign_in_as(client, registry.community_staff)
    assert client.get("/console/calendar").status_code == 403
    assert client.post("/console/calendar/days", data={"csrf_token": csrf_token(client, "/console/")}).status_code == 403


def test_admin_adds_changes_and_deletes_a_day(client, admin, today):
    sign_in_as(client, admin)
    response = _post(client, "/console/calendar/days", {"day": "2027-02-08", "type": "holiday", "name": "春节"})
    assert response.status_code == 303
    page = client.get("/console/calendar?year=2027").get_data(as_text=True)
    assert "2027-02-08" in page and "春节" in page and "休息" in page

    _post(client, "/console/calendar/days", {"day": "2027-02-08", "type": "holiday", "name": "春节假期"})
    assert db.session.get(CalendarDay, date(2027, 2, 8)).name == "春节假期"
    assert calendar.is_workday(date(2027, 2, 8)) is False

    assert _post(client, "/console/calendar/days/2027-02-08/delete", {}).status_code == 303
    db.session.expire_all()
    assert db.session.get(CalendarDay, date(2027, 2, 8)) is None
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == admin.id)).all()
    assert actions.count("calendar_day_saved") == 2 and "calendar_day_deleted" in actions


def test_a_make_up_day_on_a_weekday_is_refused_with_its_reason(client, admin, today):
    sign_in_as(client, admin)
    response = _post(client, "/console/calendar/days", {"day": "2027-02-08", "type": "workday", "name": "调休"})
    assert response.status_code == 422
    assert "调休上班日应为周六或周日" in response.get_data(as_text=True)
    assert db.session.get(CalendarDay, date(2027, 2, 8)) is None


def test_csv_import_previews_then_applies_exactly_the_preview(client, admin, today):
    sign_in_as(client, admin)
    response = _post(client, "/console/calendar/import",
                     {"file": (io.BytesIO(CSV.encode("utf-8-sig")), "2027.csv")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "将新增 3 天" in page
    assert db.session.scalars(select(CalendarDay)).all() == []  # nothing written yet

    import re

    digest = re.search(r'name="digest" value="([0-9a-f]+)"', page).group(1)
    text = re.search(r'<textarea name="csv_text" hidden>(.*?)</textarea>', page, re.S).group(1)
    tampered = _post(client, "/console/calendar/import/apply", {"digest": digest, "csv_text": text + "2027-02-21,班,x\n"})
    assert tampered.status_code == 409 and db.session.scalars(select(CalendarDay)).all() == []

    applied = _post(client, "/console/calendar/import/apply", {"digest": digest, "csv_text": text.replace("\n", "\r\n")})
    assert applied.status_code == 303
    days = {d.day: (d.is_workday, d.name, d.source) for d in db.session.scalars(select(CalendarDay))}
    assert days == {
        date(2027, 2, 6): (False, "春节", "csv"),
        date(2027, 2, 7): (False, "春节", "csv"),
        date(2027, 2, 20): (True, "春节调休", "csv"),
    }


def test_csv_preview_lists_every_bad_row_and_offers_no_apply(client, admin, today):
    sign_in_as(client, admin)
    bad = "日期,类型,名称\n2027-02-30,休,春节\n2027-02-08,班,调休\n2027-02-09,休,春节\n"
    response = _post(client, "/console/calendar/import",
                     {"file": (io.BytesIO(bad.encode()), "bad.csv")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert "共 2 行有误" in page
    assert "第2行：日期“2027-02-30”无效" in page and "第3行：调休上班日应为周六或周日" in page
    assert 'id="calendar-apply"' not in page


def test_the_december_warning_shows_admins_every_page_until_next_year_is_entered(client, admin, registry, today):
    sign_in_as(client, admin)
    assert 'id="calendar-warning"' not in client.get("/console/").get_data(as_text=True)  # 29 November

    today["day"] = date(2026, 12, 1)
    for path in ("/console/", "/console/calendar", "/console/audit"):
        page = client.get(path).get_data(as_text=True)
        assert "2027年的节假日安排尚未录入，截止时间将按普通周末计算，请在工作日历中录入" in page, path

    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    sign_in_as(client, registry.community_staff)
    assert "calendar-warning" not in client.get("/console/").get_data(as_text=True)  # admins only

    calendar.save_day(date(2027, 1, 1), calendar.HOLIDAY, "元旦", actor_id=admin.id)
    db.session.commit()
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    sign_in_as(client, admin)
    assert "calendar-warning" not in client.get("/console/").get_data(as_text=True)


def test_export_gives_the_import_format(client, admin, today):
    calendar.import_csv(CSV, actor_id=None)
    db.session.commit()
    sign_in_as(client, admin)
    response = client.get("/console/calendar/export.csv?year=2027")
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).lstrip("\ufeff") == "日期,类型,名称\n2027-02-06,休,春节\n2027-02-07,休,春节\n2027-02-20,班,春节调休\n"
