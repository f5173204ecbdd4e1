"""flask maintenance purge: forget what is kept only for a while (run daily from cron or a timer)."""
from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.notifications import wechat_events

group = AppGroup("maintenance", help="日常维护：清理过期记录")


@group.command("purge")
@click.option(
    "--push-days", type=click.FloatRange(min=0), default=wechat_events.PUSH_KEEP.days, show_default=True,
    help="微信推送去重记录保留天数",
)
def purge(push_days: float) -> None:
    """Delete the WeChat callback's de-duplication records older than --push-days (7)."""
    pushes = wechat_events.purge_pushes(timedelta(days=push_days))
    db.session.commit()
    click.echo(f"wechat_pushes={pushes}")
