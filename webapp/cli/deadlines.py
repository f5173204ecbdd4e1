"""flask deadlines run: the periodic deadline command (every minute from cron or a loop)."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from flask.cli import AppGroup

from webapp.tickets.deadline_sweep import run_deadlines

group = AppGroup("deadlines", help="时限：临期提醒、超期标记、逐级督办、超期未评价自动办结")


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("请使用 ISO 8601 时间，例如 2026-10-10T09:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("时间需要带时区，例如 +08:00")
    return parsed.astimezone(timezone.utc)


@group.command("run")
@click.option("--now", "now_text", default=None, help="按此时间检查（ISO 8601，带时区；默认当前时间）")
def run(now_text: str | None) -> None:
    """One pass: warn, flag overdue, climb the ladder, auto-close. Safe to run concurrently."""
    report = run_deadlines(_parse_now(now_text))
    click.echo(report.summary())
