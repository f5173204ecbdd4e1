"""flask calendar seed|import|export: the working-day calendar (holidays and make-up days)."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.errors import DomainError
from webapp.extensions import db
from webapp.tickets import calendar

group = AppGroup("calendar", help="工作日历：节假日和调休上班日（按工作日计算的时限使用）")


@group.command("seed")
def seed() -> None:
    """Fill every year the chinesecalendar package covers that has no entries yet (idempotent)."""
    added = calendar.seed_from_package()
    db.session.commit()
    if not added:
        click.echo("工作日历已是最新：包内各年份均已有记录，未新增")
        return
    years = "、".join(f"{year}年 {count} 天" for year, count in sorted(added.items()))
    click.echo(f"已从 chinesecalendar 录入：{years}")


@group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="只校验，不写入数据库")
def import_command(path: Path, dry_run: bool) -> None:
    """Import a CSV of days: 日期,类型,名称 (2027-02-10,休,春节 / 2027-02-07,班,春节调休)."""
    try:
        text = calendar.decode_csv(path.read_bytes())
        preview = calendar.parse_csv(text) if dry_run else calendar.import_csv(text, actor_id=None)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    for error in preview.errors:
        click.echo(str(error), err=True)
    if not preview.ok:
        db.session.rollback()
        click.echo(f"共 {len(preview.errors)} 处错误，未写入任何日期", err=True)
        raise click.exceptions.Exit(1)
    summary = f"新增 {preview.added}，修改 {preview.changed}，未变 {preview.unchanged}"
    if dry_run:
        db.session.rollback()
        click.echo(f"试运行：校验通过（{summary}），未写入数据库")
        return
    db.session.commit()
    click.echo(f"导入完成：{summary}")


@group.command("export")
@click.option("--year", "years", type=int, multiple=True, help="只导出这一年（可重复）")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="写入文件（默认输出到屏幕）")
def export(years: tuple[int, ...], out_path: Path | None) -> None:
    """Write the table as CSV in the import's format."""
    text = calendar.export_csv(years)
    if out_path is None:
        click.echo(text, nl=False)
        return
    out_path.write_text(text, encoding="utf-8-sig")
    click.echo(f"已导出 {text.count(chr(10)) - 1} 天：{out_path}")
