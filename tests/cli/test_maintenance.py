"""flask maintenance purge: old login sessions, sign PDFs and jobs that lost their process."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.factories import make_person
from webapp.columns import new_id, utcnow
from webapp.extensions import db
from webapp.people.models import AuthSession
from webapp.registry.models import SignJob


def test_purge_forgets_old_sessions_and_fails_stuck_sign_jobs(app_ctx, runner, tmp_path, monkeypatch):
    person = make_person("居民", "13900000009")
    now = utcnow()
    for days in (40, 1):
        db.session.add(AuthSession(
            token_hash=(new_id() * 3)[:64], person_id=person.id, created_at=now - timedelta(days=days + 7),
            expires_at=now - timedelta(days=days),
        ))
    old_pdf = tmp_path / "old.pdf"
    old_pdf.write_bytes(b"%PDF-1.4")
    monkeypatch.setitem(app_ctx.config, "SIGN_JOB_KEEP_DAYS", 7)
    db.session.add_all([
        SignJob(scope_kind="street", scope_code="FL", status="running", created_at=now - timedelta(hours=7)),
        SignJob(scope_kind="street", scope_code="FL", status="running", created_at=now - timedelta(minutes=5)),
        SignJob(scope_kind="street", scope_code="FL", status="done", created_at=now - timedelta(days=9),
                finished_at=now - timedelta(days=9), file_path=str(old_pdf)),
    ])
    db.session.commit()

    result = runner.invoke(args=["maintenance", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "wechat_pushes=0 sessions=1 sign_jobs_failed=1 sign_files=1"
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuthSession)) == 1
    statuses = sorted(db.session.scalars(select(SignJob.status)))
    assert statuses == ["done", "failed", "running"]
    failed = db.session.scalars(select(SignJob).where(SignJob.status == "failed")).one()
    assert failed.error == "打印任务中断，请重新打印"
    assert not old_pdf.exists()
