"""flask codes ...: issue, revoke and replace building codes; export QR images."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from qr.render import qr_png, qr_svg
from qr.urls import building_url
from webapp.extensions import db
from webapp.registry import codes as code_ops
from webapp.registry.models import Building, BuildingCode

group = AppGroup("codes", help="楼栋二维码：签发、停用、更换、导出")


def _building_by_code(building_code: str) -> Building:
    building = db.session.scalars(select(Building).where(Building.code == building_code)).first()
    if building is None:
        raise click.ClickException(f"未找到楼栋编码 {building_code}")
    return building


@group.command("issue-missing")
def issue_missing() -> None:
    """Give every building that has no active code a new one."""
    count = code_ops.issue_missing_codes()
    db.session.commit()
    click.echo(f"已为 {count} 栋楼签发二维码")


@group.command("replace")
@click.argument("building_code")
def replace(building_code: str) -> None:
    """Revoke a building's code and issue a new one (other buildings are untouched)."""
    building = _building_by_code(building_code)
    new = code_ops.issue_code(building.id)
    db.session.commit()
    click.echo(building_url(current_app.config["PUBLIC_BASE_URL"], new.code))


@group.command("revoke")
@click.argument("building_code")
def revoke(building_code: str) -> None:
    """Revoke a building's code without issuing a new one."""
    building = _building_by_code(building_code)
    if code_ops.revoke_code(building.id) is None:
        raise click.ClickException(f"楼栋 {building_code} 没有有效的二维码")
    db.session.commit()
    click.echo(f"已停用楼栋 {building.name} 的二维码")


@group.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["png", "svg"]), default="png")
def export(out_dir: Path, fmt: str) -> None:
    """Write one QR image per building with an active code, named by building code."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = current_app.config["PUBLIC_BASE_URL"]
    rows = db.session.execute(
        select(Building.code, BuildingCode.code)
        .join(BuildingCode, BuildingCode.building_id == Building.id)
        .where(BuildingCode.revoked_at.is_(None))
        .order_by(Building.code)
    )
    count = 0
    for building_code, code in rows:
        url = building_url(base, code)
        target = out_dir / f"{building_code}.{fmt}"
        if fmt == "png":
            target.write_bytes(qr_png(url))
        else:
            target.write_text(qr_svg(url), encoding="utf-8")
        count += 1
    click.echo(f"已导出 {count} 个二维码到 {out_dir}")
