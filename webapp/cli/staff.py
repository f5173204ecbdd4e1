"""flask staff ...: bind imported staff members to their WeChat accounts; console passwords."""
from __future__ import annotations

import sys
from zoneinfo import ZoneInfo

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people import bindings, passwords
from webapp.people.models import Person

group = AppGroup("staff", help="工作人员：微信账号绑定、网页工作台密码")


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


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _read_password() -> str:
    """From a terminal: asked twice, not echoed. Piped: the first line of standard input."""
    if _stdin_is_tty():
        first = click.prompt("新密码", hide_input=True)
        if click.prompt("再次输入新密码", hide_input=True) != first:
            raise click.ClickException("两次输入的密码不一致，未设置")
        return first
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("未从标准输入读到密码")
    return line.rstrip("\r\n")


@group.command("set-password")
@click.argument("username")
@click.option("--generate", is_flag=True, help="生成一个随机密码并只显示这一次")
def set_password(username: str, generate: bool) -> None:
    """Set the console password of the staff member USERNAME (their one-table code, e.g. P011).

    The password is read from standard input (asked twice without echo on a terminal), or with
    --generate made up and printed once. At least 10 characters. It ends the staff member's
    open console sessions, lifts a lock-out, and is recorded in the audit trail.
    """
    password = passwords.generate_password() if generate else _read_password()
    try:
        person = passwords.set_password(username, password, by="cli")
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"已设置 {person.name}（{person.code}）的网页工作台密码")
    if generate:
        click.echo(f"新密码：{password}")
        click.echo("密码只显示这一次，请当面或通过安全渠道交给本人")
