"""flask outbox ...: send the notifications waiting in the outbox, see what went out."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from webapp.errors import NotFound
from webapp.extensions import db
from webapp.notifications import outbox as outbox_ops

group = AppGroup("outbox", help="消息发件箱：发送订阅消息")


@group.command("drain")
@click.option("--once", is_flag=True, help="只处理一批就退出")
@click.option("--batch", type=click.IntRange(min=1, max=1000), default=100, show_default=True)
@click.option(
    "--max-seconds", type=click.FloatRange(min=0), default=None,
    help="运行这么多秒后退出（默认一直运行）",
)
@click.option(
    "--idle-seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
    help="没有待发消息时等待多久再查",
)
def drain(once: bool, batch: int, max_seconds: float | None, idle_seconds: float) -> None:
    """Send due messages batch after batch (PostgreSQL: run as many as you like; SQLite: one)."""
    started = time.monotonic()
    totals: dict[str, int] = {}
    while True:
        counts = outbox_ops.drain(batch)
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        if any(counts[key] for key in ("claimed", "requeued", "abandoned")):
            click.echo(_format(counts))
        if once:
            break
        elapsed = time.monotonic() - started
        if max_seconds is not None and elapsed >= max_seconds:
            break
        if counts["claimed"] < batch:  # the queue is empty for now
            pause = idle_seconds
            if max_seconds is not None:
                pause = min(pause, max(max_seconds - elapsed, 0))
            time.sleep(pause)
    db.session.remove()
    click.echo("total: " + _format(totals))


@group.command("recent")
@click.option("--limit", type=click.IntRange(min=1, max=500), default=20, show_default=True)
def recent(limit: int) -> None:
    """List the newest messages and what became of them."""
    for message in outbox_ops.recent_messages(limit):
        click.echo(
            f"{message.id}\t{message.state.value}\t{message.kind}\t{message.person_id}\t"
            f"attempts={message.attempts}\t{message.delivered_via or ''}\t{message.last_error or ''}"
        )


@group.command("requeue")
@click.argument("message_id", type=int)
def requeue(message_id: int) -> None:
    """Put a failed or skipped message back in the queue."""
    try:
        message = outbox_ops.requeue(message_id)
    except NotFound as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"{message.id}\t{message.state.value}")


def _format(counts: dict[str, int]) -> str:
    return " ".join(f"{key}={value}" for key, value in counts.items() if value) or "nothing"
