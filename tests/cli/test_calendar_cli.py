"""flask calendar seed | import | export."""
from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.tickets import calendar
from webapp.tickets.models import CalendarDay


def test_seed_is_idempotent(runner, app_ctx):
    first = runner.invoke(args=["calendar", "seed"])
    assert first.exit_code == 0, first.output
    assert "已从 chinesecalendar 录入" in first.output and "2026年" in first.output
    count = db.session.scalar(select(func.count()).select_from(CalendarDay))
    second = runner.invoke(args=["calendar", "seed"])
    assert second.exit_code == 0 and "未新增" in second.output
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == count


def test_import_checks_every_row_then_writes(runner, app_ctx, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("日期,类型,名称\n2027-02-06,休,春节\n2027-02-08,班,调休\n", encoding="utf-8")
    refused = runner.invoke(args=["calendar", "import", str(bad)])
    assert refused.exit_code == 1
    assert "第3行：调休上班日应为周六或周日" in refused.output and "未写入任何日期" in refused.output
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == 0

    good = tmp_path / "good.csv"
    good.write_text("日期,类型,名称\n2027-02-06,休,春节\n2027-02-20,班,春节调休\n", encoding="gb18030")
    dry = runner.invoke(args=["calendar", "import", str(good), "--dry-run"])
    assert dry.exit_code == 0 and "试运行" in dry.output
    assert db.session.scalar(select(func.count()).select_from(CalendarDay)) == 0
    done = runner.invoke(args=["calendar", "import", str(good)])
    assert done.exit_code == 0 and "新增 2" in done.output
    db.session.expire_all()
    assert db.session.get(CalendarDay, date(2027, 2, 20)).is_workday is True


def test_export_writes_the_import_format(runner, app_ctx, tmp_path):
    calendar.import_csv("日期,类型,名称\n2027-02-06,休,春节\n", actor_id=None)
    db.session.commit()
    shown = runner.invoke(args=["calendar", "export", "--year", "2027"])
    assert shown.output == "日期,类型,名称\n2027-02-06,休,春节\n"
    target = tmp_path / "out.csv"
    written = runner.invoke(args=["calendar", "export", "-o", str(target)])
    assert written.exit_code == 0 and "已导出 1 天" in written.output
    assert target.read_text(encoding="utf-8-sig") == "日期,类型,名称\n2027-02-06,休,春节\n"
