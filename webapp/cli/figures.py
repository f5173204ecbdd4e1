"""flask figures rollup | check: the figures' daily rollup (webapp/figures/rollup.py)."""
from __future__ import annotations

from datetime import date, timedelta

import click
from flask.cli import AppGroup

from webapp.columns import utcnow
from webapp.figures import rollup
from webapp.figures.period import BEIJING

group = AppGroup("figures", help="统计报表：每日汇总与核对")


def _since(days: int | None) -> date | None:
    if days is None:
        return None
    return utcnow().astimezone(BEIJING).date() - timedelta(days=days)


def _report(found: rollup.Recount) -> None:
    for key in found.differing[:20]:
        click.echo(f"  differs: street={key[0]} day={key[1]} community={key[2]} grid={key[3]} category={key[4]} kind={key[5]}")
    state = "repaired" if found.repaired else "left as they are"
    click.echo(f"rows_checked={found.rows} rows_differing={len(found.differing)}" + (f" ({state})" if found.differing else ""))


@group.command("rollup")
@click.option("--check-days", type=click.IntRange(min=0), default=35, show_default=True,
              help="核对最近多少天的汇总（按工单创建日）")
def rollup_command(check_days: int) -> None:
    """Roll up every settled ticket not yet rolled up (run daily: tickets written before the
    rollup existed, and any a deadline settled), then recount the last --check-days days from
    the tickets and repair any row of the rollup that differs (each difference is printed)."""
    rolled = rollup.roll_up()
    click.echo(f"rolled_up={rolled}")
    _report(rollup.recount(since=_since(check_days), repair=True))


@group.command("check")
@click.option("--days", type=click.IntRange(min=0), default=None, help="只核对最近多少天（默认全部）")
@click.option("--repair", is_flag=True, help="重写不一致的汇总行")
def check_command(days: int | None, repair: bool) -> None:
    """Recount the rolled-up tickets from their columns and compare with the rollup; exit
    status 1 if a row differs and --repair was not given."""
    found = rollup.recount(since=_since(days), repair=repair)
    _report(found)
    if found.differing and not repair:
        raise SystemExit(1)
