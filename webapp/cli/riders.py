"""flask riders ...: invite delivery riders to enrol in a community."""
from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.columns import utcnow
from webapp.extensions import db
from webapp.people import riders as rider_ops
from webapp.registry.models import Community

group = AppGroup("riders", help="骑手（兼职网格员）：邀请码")


@group.command("invite")
@click.argument("community_code")
@click.option("--auto-approve", is_flag=True, help="登记后直接生效，无需社区审核")
@click.option("--max-uses", type=click.IntRange(min=1), default=None, help="最多可用次数（默认不限）")
@click.option(
    "--days", type=click.IntRange(min=1), default=rider_ops.DEFAULT_INVITE_DAYS, show_default=True,
    help="有效天数",
)
def invite(community_code: str, auto_approve: bool, max_uses: int | None, days: int) -> None:
    """Print a new invite code for riders of the community COMMUNITY_CODE."""
    community = db.session.scalars(select(Community).where(Community.code == community_code)).first()
    if community is None:
        raise click.ClickException(f"未找到社区编码 {community_code}")
    new = rider_ops.issue_invite(
        community.id,
        auto_approve=auto_approve,
        max_uses=max_uses,
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.commit()
    click.echo(new.code)
