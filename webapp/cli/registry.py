"""flask registry ...: import the "one table" (一张表) of places, staff and the matrix."""
from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.errors import DomainError
from webapp.extensions import db
from webapp.registry import importer

group = AppGroup("registry", help="一张表：导入街道、社区、网格、楼栋、人员和责任矩阵")


def echo_report(report: importer.ImportReport) -> None:
    """Print the counts per sheet, or every bad row, in Chinese."""
    for error in report.errors:
        click.echo(str(error), err=True)
    if not report.ok:
        return
    for name, counts in report.counts.items():
        click.echo(
            f"  {name}：新增 {counts.created}，更新 {counts.updated}，未变 {counts.unchanged}"
        )
    if report.ignored_sheets:
        click.echo("  已忽略的工作表：" + "、".join(report.ignored_sheets))


@group.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="只校验，不写入数据库")
def import_command(path: Path, dry_run: bool) -> None:
    """Import PATH: an .xlsx file, or a folder of CSV files named after the sheets (楼栋.csv ...).

    Every row is checked first; if any is bad, each is listed and nothing is written.
    """
    started = time.perf_counter()
    try:
        report = importer.import_registry_file(path)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    seconds = time.perf_counter() - started
    echo_report(report)
    if not report.ok:
        db.session.rollback()
        click.echo(f"共 {len(report.errors)} 处错误，本次导入未写入任何数据", err=True)
        raise click.exceptions.Exit(1)
    if dry_run:
        db.session.rollback()
        click.echo(f"试运行：校验通过，未写入数据库（用时 {seconds:.1f} 秒）")
        return
    db.session.commit()
    click.echo(f"导入完成：共 {report.changed} 条新增或更新（用时 {seconds:.1f} 秒）")
