"""A street's signs as a background job on RQ (REDIS_URL): queued by the console's feature,
run by a worker, progress and file on the SignJob row. Uses the real Redis at REDIS_TEST_URL
(default 127.0.0.1:6379) with a queue of its own; skipped without it, failed under CI."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pypdf
import pytest

from tests.conftest import IN_CI
from tests.factories import make_person, make_registry
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry import sign_jobs
from webapp.registry.models import SignJob

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        message = f"Redis is not reachable at {REDIS_URL}: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def rq_app(app, redis_url, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.config, "SIGN_JOB_QUEUE", f"test-signs-{uuid.uuid4().hex[:10]}")
    monkeypatch.setitem(app.config, "SIGN_JOB_DIR", str(tmp_path / "sign_jobs"))
    yield app
    with app.app_context():
        queue = sign_jobs.rq_queue(app)
        queue.delete(delete_jobs=True)


@pytest.fixture
def street_actor(app_ctx):
    registry = make_registry(buildings_per_grid=3)
    person = make_person("陈志强", "13900000002", code="P-CZQ")
    db.session.add(StaffAssignment(person=person, role=Role.STREET_STAFF, street=registry.street))
    db.session.commit()
    return load_actor(person.id)


def test_a_street_job_is_queued_on_rq_and_run_by_a_worker(rq_app, street_actor):
    from rq import SimpleWorker

    job = sign_jobs.create_job(street_actor, "FL")
    db.session.commit()
    job_id = job.id
    assert (job.status, job.total) == ("queued", 6)

    assert sign_jobs.launch(job_id) == "rq"
    queue = sign_jobs.rq_queue(rq_app)
    assert queue.count == 1  # waiting for a worker: nothing ran in this process
    db.session.expire_all()
    assert db.session.get(SignJob, job_id).status == "queued"

    SimpleWorker([queue], connection=queue.connection).work(burst=True, with_scheduler=False)

    db.session.expire_all()
    done = db.session.get(SignJob, job_id)
    assert (done.status, done.done, done.total, done.error) == ("done", 6, 6, None)
    assert Path(done.file_path).parent == Path(rq_app.config["SIGN_JOB_DIR"])
    assert len(pypdf.PdfReader(done.file_path).pages) == 6
    assert queue.failed_job_registry.count == 0


def test_the_worker_command_refuses_to_start_without_redis(runner, app, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "")
    result = runner.invoke(args=["signs", "worker", "--burst"])
    assert result.exit_code != 0 and "未设置 REDIS_URL" in result.output


def test_the_worker_command_runs_queued_jobs(rq_app, street_actor, runner):
    job = sign_jobs.create_job(street_actor, "FL")
    db.session.commit()
    job_id = job.id
    sign_jobs.launch(job_id)
    result = runner.invoke(args=["signs", "worker", "--burst"])
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert db.session.get(SignJob, job_id).status == "done"
