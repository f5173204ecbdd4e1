"""flask signs print: the printable sign PDF of a community or a street."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.errors import DomainError
from webapp.registry import signs as sign_ops

group = AppGroup("signs", help="多网融合信息公示牌：生成可打印的A4 PDF")


@group.command("print")
@click.option("--street", "street_code", help="街道编码")
@click.option("--community", "community_code", help="社区编码")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
def print_signs(street_code: str | None, community_code: str | None, out_path: Path) -> None:
    """Write one sign per building (QR code, address, grid worker, professionals) to a PDF."""
    try:
        total = sign_ops.count_signs(street_code, community_code)
        partial = out_path.with_name(out_path.name + ".part")
        with open(partial, "wb") as out, click.progressbar(length=total, label="生成公示牌") as bar:
            done = {"n": 0}

            def progress(n: int) -> None:
                bar.update(n - done["n"])
                done["n"] = n

            pages = sign_ops.write_signs(
                out, street_code=street_code, community_code=community_code, progress=progress
            )
        partial.replace(out_path)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    finally:
        if "partial" in locals() and partial.exists():
            partial.unlink()
    click.echo(f"已生成 {pages} 张公示牌：{out_path}")
