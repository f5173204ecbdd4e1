"""flask privacy: retention purge, a resident's deletion, re-sealing after a key rotation."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.audit import trail
from webapp.columns import utcnow
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people.auth import purge_expired_sessions
from webapp.privacy import deletion, rekeying, retention
from webapp.tickets import photos

group = AppGroup("privacy", help="个人信息：按保存期限清除、注销删除、更换密钥")


@group.command("purge")
@click.option(
    "--days", type=click.FloatRange(min=0, min_open=True), default=None,
    help="办结后保存天数（默认 PERSONAL_DATA_RETENTION_DAYS）",
)
def purge(days: float | None) -> None:
    """Remove the photos and personal fields of tickets closed, rejected or merged more than
    --days (PERSONAL_DATA_RETENTION_DAYS, 365) ago, keeping their statistics
    (webapp/privacy/retention.py says what goes); delete expired login sessions. One commit
    per batch of tickets; photo files go after their batch's commit."""
    days = days or current_app.config["PERSONAL_DATA_RETENTION_DAYS"]
    cutoff = retention.cutoff_of(utcnow(), days)
    after, tickets, files = "", 0, 0
    while after is not None:
        batch = retention.purge_batch(cutoff, after)
        paths = photos.forget_ticket_photos(batch.ticket_ids)
        db.session.commit()
        photos.remove_files(paths)
        tickets, files, after = tickets + len(batch.ticket_ids), files + len(paths), batch.last_id
    sessions = purge_expired_sessions()
    trail.record(
        trail.Action.PERSONAL_DATA_PURGED,
        detail={"by": "cli", "days": days, "cutoff": cutoff.isoformat(), "tickets": tickets,
                "photos": files, "sessions": sessions},
    )
    db.session.commit()
    click.echo(f"tickets={tickets} photo_files={files} sessions={sessions}")


@group.command("delete-person")
@click.argument("reference")
@click.option("--yes", is_flag=True, help="不再确认")
def delete_person(reference: str, yes: bool) -> None:
    """A resident's deletion request, by person id, openid or phone number: their personal
    data is erased, their tickets stay without it (webapp/privacy/deletion.py).

    An id that starts with "-" (ids are URL-safe base64) goes after "--", as in
    `flask privacy delete-person --yes -- -7Xb...`, or it is read as an option."""
    try:
        person = deletion.find_person(reference)
        if not yes:
            click.confirm(f"删除人员 {person.id} 的个人信息？此操作不可撤销", abort=True)
        done = deletion.delete_person(person, by="cli")
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    paths = photos.forget_photos_of(done.person_id)
    db.session.commit()
    photos.remove_files(paths)
    click.echo(f"person={done.person_id} tickets={done.tickets} me_toos={done.me_toos} photo_files={len(paths)}")


@group.command("rekey")
def rekey() -> None:
    """Seal every stored phone number under the current PERSONAL_DATA_KEY (after a rotation:
    the old key in PERSONAL_DATA_KEY_PREVIOUS until this has run). Safe to run again."""
    counts = rekeying.rekey_all(db.session.connection())
    db.session.commit()
    click.echo(" ".join(f"{table}={count}" for table, count in counts.items()))
