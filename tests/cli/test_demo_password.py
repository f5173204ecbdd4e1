"""flask demo setup: the demo password every staff account takes, never in production."""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db


def test_demo_setup_prints_the_demo_password_every_staff_account_takes(app, runner):
    from webapp.people import passwords
    from webapp.people.models import Person, StaffAssignment

    first = runner.invoke(args=["demo", "setup"])
    assert first.exit_code == 0, first.output
    lines = [line for line in first.output.splitlines() if line.startswith("演示密码：")]
    assert lines == [f"演示密码：{app.config['DEMO_PASSWORD']}"]
    password = lines[0].removeprefix("演示密码：")
    with app.app_context():
        staff = db.session.scalars(
            select(Person).where(Person.id.in_(select(StaffAssignment.person_id)))
        ).all()
        assert staff and all(p.password_hash for p in staff)
        versions = {p.id: p.session_version for p in staff}
        for username in ("P001", "P011"):
            assert passwords.verify_sign_in(username, password, "127.0.0.1").actor.is_staff
        db.session.commit()
    # Run again: every account already takes the password, nothing changes, no session ends.
    second = runner.invoke(args=["demo", "setup"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        again = {p.id: p.session_version for p in db.session.scalars(select(Person).where(Person.id.in_(versions)))}
        assert again == versions


def test_demo_setup_is_refused_in_production(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    result = runner.invoke(args=["demo", "setup"])
    assert result.exit_code != 0
    assert "不能用于生产环境" in result.output
    assert "演示密码：" not in result.output
