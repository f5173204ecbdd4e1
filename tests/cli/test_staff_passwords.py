"""flask staff set-password: the first admin's way in, from standard input or generated."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import make_person, make_registry
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.people import passwords
from webapp.people.models import Person


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _person(code: str) -> Person:
    db.session.expire_all()
    return db.session.scalars(select(Person).where(Person.code == code)).one()


def test_set_password_reads_standard_input_and_the_password_signs_in(runner, registry):
    result = runner.invoke(args=["staff", "set-password", "P-ZM"], input="a-long-password-1\n")
    assert result.exit_code == 0, result.output
    assert "已设置 赵敏（P-ZM）的网页工作台密码" in result.output
    assert "a-long-password-1" not in result.output
    person = _person("P-ZM")
    assert person.password_hash.startswith("scrypt:")
    assert passwords.verify_sign_in("P-ZM", "a-long-password-1", "127.0.0.1").actor.person_id == person.id
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "password_set")).one()
    assert (entry.target_id, entry.detail["by"]) == (person.id, "cli")


def test_set_password_on_a_terminal_asks_twice_without_echo(runner, registry, monkeypatch):
    from webapp.cli import staff

    monkeypatch.setattr(staff, "_stdin_is_tty", lambda: True)
    result = runner.invoke(args=["staff", "set-password", "P-ZM"], input="a-long-password-1\na-long-password-1\n")
    assert result.exit_code == 0, result.output
    assert "新密码" in result.output and "再次输入新密码" in result.output
    assert "a-long-password-1" not in result.output  # hidden input is not echoed
    mismatch = runner.invoke(args=["staff", "set-password", "P-ZL"], input="a-long-password-1\nanother-one-22\n")
    assert mismatch.exit_code != 0
    assert "两次输入的密码不一致" in mismatch.output
    assert _person("P-ZL").password_hash is None


def test_set_password_generate_prints_it_once(runner, registry):
    result = runner.invoke(args=["staff", "set-password", "P-ZL", "--generate"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("新密码：")]
    assert len(lines) == 1
    generated = lines[0].removeprefix("新密码：")
    assert len(generated) == passwords.GENERATED_LENGTH
    assert passwords.verify_sign_in("P-ZL", generated, "127.0.0.1").actor.name == "张丽"


def test_set_password_refuses_a_short_password(runner, registry):
    result = runner.invoke(args=["staff", "set-password", "P-ZL"], input="short-pw\n")
    assert result.exit_code != 0
    assert "密码至少需要10个字符" in result.output
    assert _person("P-ZL").password_hash is None
    assert db.session.scalars(select(AuditEntry)).all() == []


@pytest.mark.parametrize("username", ["P-NOBODY", "R-001"])
def test_set_password_only_for_staff(runner, registry, username):
    make_person("居民甲", code="R-001")  # a code, but no staff role
    db.session.commit()
    result = runner.invoke(args=["staff", "set-password", username], input="a-long-password-1\n")
    assert result.exit_code != 0
    assert f"未找到工作人员账号 {username}" in result.output
    assert db.session.scalars(select(AuditEntry)).all() == []


def test_set_password_lifts_a_lock_out(runner, registry):
    from datetime import timedelta

    from webapp.columns import utcnow

    worker = _person("P-ZL")
    worker.failed_sign_ins, worker.locked_until = 5, utcnow() + timedelta(minutes=10)
    db.session.commit()
    result = runner.invoke(args=["staff", "set-password", "P-ZL"], input="a-long-password-1\n")
    assert result.exit_code == 0, result.output
    worker = _person("P-ZL")
    assert (worker.failed_sign_ins, worker.locked_until) == (0, None)
