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


@group.command("worker")
@click.option("--burst", is_flag=True, help="处理完队列中的任务后退出")
def worker(burst: bool) -> None:
    """Run the RQ worker that prints a street's signs in the background (needs REDIS_URL)."""
    from flask import current_app
    from rq import SimpleWorker

    from webapp.registry.sign_jobs import rq_queue

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("未设置 REDIS_URL：没有 Redis 时，公示牌在网页进程内后台生成，无需启动 worker")
    queue = rq_queue(current_app)
    click.echo(f"公示牌打印 worker：队列 {queue.name}")
    # SimpleWorker runs each job in this process (no fork: the database pool is not shared with
    # a child), inside the app context this command runs in.
    SimpleWorker([queue], connection=queue.connection).work(burst=burst, with_scheduler=False)
