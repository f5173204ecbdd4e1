"""flask maintenance purge: forget what is kept only for a while (run daily from cron or a timer)."""
from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.notifications import wechat_events
from webapp.people.auth import purge_expired_sessions
from webapp.registry import sign_jobs

group = AppGroup("maintenance", help="日常维护：清理过期记录")


@group.command("purge")
@click.option(
    "--push-days", type=click.FloatRange(min=0), default=wechat_events.PUSH_KEEP.days, show_default=True,
    help="微信推送去重记录保留天数",
)
def purge(push_days: float) -> None:
    """Delete the WeChat callback's de-duplication records older than --push-days (7), login
    sessions expired or revoked over 30 days ago, sign PDFs older than SIGN_JOB_KEEP_DAYS; mark
    sign jobs that lost their process as failed."""
    pushes = wechat_events.purge_pushes(timedelta(days=push_days))
    sessions = purge_expired_sessions()
    stuck = sign_jobs.fail_stuck_jobs()
    files = sign_jobs.purge_old_files()
    db.session.commit()
    click.echo(f"wechat_pushes={pushes} sessions={sessions} sign_jobs_failed={stuck} sign_files={files}")
