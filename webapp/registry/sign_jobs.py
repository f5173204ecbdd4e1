"""Printing a street's signs in the background: one SignJob row per print, with its progress.

A street has hundreds or thousands of buildings: its PDF takes minutes, longer than a request
may. The console creates a job (`create_job`, then its door commits) and `launch`es it:

- with REDIS_URL, on RQ: the job is queued on SIGN_JOB_QUEUE and a worker runs `perform`
  (`flask signs worker`, the app's RQ worker; see docs/operations.md);
- without, in a daemon thread of the web process (the demo, a laptop).

Either way `run_job` writes the PDF to SIGN_JOB_DIR (a ``.part`` file renamed when complete)
and commits the row's progress (`done` of `total` pages) every PROGRESS_EVERY pages, so the
page that polls it sees it move; a job is a job, not a request: it commits its own progress.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select

from webapp.audit.trail import Action, record
from webapp.columns import utcnow
from webapp.errors import DomainError, Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry import signs
from webapp.registry.models import SignJob, Street

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUS_LABELS = {QUEUED: "排队中", RUNNING: "生成中", DONE: "已完成", FAILED: "失败"}
PROGRESS_SECONDS = 1.0
"""Progress is committed at most this often (and at the end)."""
JOB_TIMEOUT_SECONDS = 3 * 3600


def create_job(actor: Actor, street_code: str, *, address: str | None = None) -> SignJob:
    """A queued print of one street's signs (flushed; the caller commits, then launches it).

    Raises NotFound for an unknown street, Forbidden outside the actor's scope, Invalid when
    no building of the street has an active code.
    """
    street = db.session.scalars(select(Street).where(Street.code == street_code)).first()
    if street is None:
        raise NotFound(f"未找到街道编码 {street_code}", code="street_not_found")
    if not actor.supervises_street(street.id):
        raise Forbidden("您无权打印该街道的公示牌", code="out_of_scope")
    total = signs.count_signs(street_code=street_code)
    if total == 0:
        raise Invalid("该范围内没有已签发二维码的楼栋", code="no_signs")
    job = SignJob(scope_kind="street", scope_code=street_code, status=QUEUED, total=total,
                  created_by=actor.person_id)
    db.session.add(job)
    db.session.flush()
    record(Action.SIGNS_PRINTED, actor_id=actor.person_id, target_type="sign_job", target_id=job.id,
           address=address, detail={"scope": "street", "code": street_code, "pages": total})
    return job


def visible_job(actor: Actor, job_id: str) -> SignJob:
    """A job the actor may see (its street in their scope). Raises NotFound."""
    job = db.session.get(SignJob, job_id)
    if job is None:
        raise NotFound("未找到该打印任务", code="sign_job_not_found")
    street = db.session.scalars(select(Street).where(Street.code == job.scope_code)).first()
    if street is None or not actor.supervises_street(street.id):
        raise NotFound("未找到该打印任务", code="sign_job_not_found")
    return job


def recent_jobs(actor: Actor, limit: int = 10) -> list[SignJob]:
    """The newest jobs of the streets in the actor's scope."""
    streets = {s.code for s in db.session.scalars(select(Street)) if actor.supervises_street(s.id)}
    if not streets:
        return []
    return list(
        db.session.scalars(
            select(SignJob).where(SignJob.scope_code.in_(streets)).order_by(SignJob.created_at.desc()).limit(limit)
        )
    )


def job_file(job: SignJob) -> Path | None:
    """The finished PDF of a job, or None (not done, or cleaned away)."""
    if job.status != DONE or not job.file_path:
        return None
    path = Path(job.file_path)
    return path if path.is_file() else None


def launch(job_id: str) -> str:
    """Start a committed job: on RQ with REDIS_URL, else in a thread. Returns "rq" or "thread"."""
    app = current_app._get_current_object()
    if app.config.get("REDIS_URL"):
        queue = rq_queue(app)
        queue.enqueue(perform, job_id, job_id=f"sign-job-{job_id}", job_timeout=JOB_TIMEOUT_SECONDS,
                      result_ttl=3600, failure_ttl=7 * 86400)
        return "rq"
    thread = threading.Thread(target=_run_in_app, args=(app, job_id), name=f"sign-job-{job_id}", daemon=True)
    thread.start()
    return "thread"


def rq_queue(app: Flask):
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(app.config["REDIS_URL"], socket_timeout=app.config["REDIS_TIMEOUT_SECONDS"] * 30,
                                socket_connect_timeout=app.config["REDIS_TIMEOUT_SECONDS"])
    return Queue(app.config["SIGN_JOB_QUEUE"], connection=connection)


def perform(job_id: str) -> str:
    """The RQ job: run inside the worker's app context (`flask signs worker`)."""
    from flask import has_app_context

    if not has_app_context():
        raise RuntimeError("sign jobs need the app: start the worker with `flask signs worker`")
    try:
        return run_job(job_id)
    finally:
        db.session.remove()


def _run_in_app(app: Flask, job_id: str) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def run_job(job_id: str) -> str:
    """Write the job's PDF, committing its progress; returns its final status."""
    job = db.session.get(SignJob, job_id)
    if job is None or job.status not in (QUEUED, RUNNING):
        return job.status if job is not None else FAILED
    folder = Path(current_app.config["SIGN_JOB_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{job.id}.pdf"
    partial = folder / f"{job.id}.pdf.part"
    job.status, job.done = RUNNING, 0
    db.session.commit()
    last = {"at": time.monotonic()}

    def progress(pages: int) -> None:
        now = time.monotonic()
        if now - last["at"] >= PROGRESS_SECONDS:
            last["at"] = now
            db.session.get(SignJob, job_id).done = pages
            db.session.commit()

    try:
        with open(partial, "wb") as out:
            pages = signs.write_signs(out, street_code=job.scope_code, progress=progress)
        partial.replace(target)
    except Exception as error:  # noqa: BLE001 - the job records why it failed
        db.session.rollback()
        partial.unlink(missing_ok=True)
        job = db.session.get(SignJob, job_id)
        job.status, job.finished_at = FAILED, utcnow()
        job.error = (error.message if isinstance(error, DomainError) else "生成失败，请稍后重试")[:300]
        db.session.commit()
        if not isinstance(error, DomainError):
            log.exception("sign job %s failed", job_id)
        return FAILED
    job = db.session.get(SignJob, job_id)
    job.status, job.done, job.total, job.file_path, job.finished_at = DONE, pages, pages, str(target), utcnow()
    db.session.commit()
    return DONE


def purge_old_files(now=None) -> int:
    """Delete finished PDFs older than SIGN_JOB_KEEP_DAYS (the rows stay); returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["SIGN_JOB_KEEP_DAYS"])
    removed = 0
    for job in db.session.scalars(select(SignJob).where(SignJob.finished_at < cutoff, SignJob.file_path.is_not(None))):
        Path(job.file_path).unlink(missing_ok=True)
        job.file_path = None
        removed += 1
    db.session.flush()
    return removed


# A job still queued or running after this long lost its process (a restarted worker).
STUCK_AFTER = timedelta(hours=6)


def fail_stuck_jobs(now=None) -> int:
    """Mark jobs queued or running for longer than STUCK_AFTER as failed, so their page says
    so instead of waiting for ever; returns how many."""
    cutoff = (now or utcnow()) - STUCK_AFTER
    stuck = list(
        db.session.scalars(
            select(SignJob).where(SignJob.status.in_([QUEUED, RUNNING]), SignJob.created_at < cutoff)
        )
    )
    for job in stuck:
        job.status, job.error, job.finished_at = FAILED, "打印任务中断，请重新打印", now or utcnow()
    db.session.flush()
    return len(stuck)
