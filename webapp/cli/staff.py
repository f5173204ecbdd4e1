"""flask staff ...: bind imported staff members to their WeChat accounts."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people import bindings
from webapp.people.models import Person

group = AppGroup("staff", help="工作人员：微信账号绑定")


@group.command("bind-code")
@click.argument("person_code")
def bind_code(person_code: str) -> None:
    """Print a one-time bind code for the staff member PERSON_CODE, and when it expires.

    The staff member logs into the mini-program with WeChat and enters the code; their WeChat
    account then logs in as this staff member. A new code ends the previous unused one.
    """
    person = db.session.scalars(select(Person).where(Person.code == person_code)).first()
    if person is None:
        raise click.ClickException(f"未找到人员编码 {person_code}")
    try:
        row, code = bindings.issue_bind_code(person.id)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    db.session.commit()
    expires = row.expires_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    click.echo(f"{person.name}（{person_code}）的绑定码：{code}")
    click.echo(f"有效期至 {expires}（北京时间），仅可使用一次")
