"""webapp/gunicorn.conf.py as gunicorn runs it: the app loaded before the fork is frozen out
of the workers' garbage collections (gc.freeze in the master, before the first fork), in the
first workers and in one the arbiter starts after a crash."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
# The product imports about 200,000 objects the collector tracks (modules, classes, mappers,
# schemas); a worker's own, after one request, are a small part of that.
FROZEN_AT_LEAST = 50_000


def _collector(port: int, deadline: float) -> dict:
    """What /gc of tests/webapp/gc_app.py answers, once a worker is up."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/gc", timeout=5) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                pytest.fail("gunicorn did not answer")
            time.sleep(0.1)


@pytest.fixture
def gunicorn():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "webapp" / "gunicorn.conf.py"),
         "--workers", "1", "--threads", "1", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "tests.webapp.gc_app:app"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
    )
    try:
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_gunicorn_workers_collect_without_the_preloaded_app(gunicorn):
    first = _collector(gunicorn, time.monotonic() + 60)
    assert first["enabled"], "the worker's collector runs"
    assert first["frozen"] >= FROZEN_AT_LEAST, first
    assert first["tracked"] < first["frozen"] / 2, "a full collection walks the worker's own objects"

    os.kill(first["pid"], signal.SIGKILL)  # the arbiter starts another worker from the master
    deadline = time.monotonic() + 60
    again = _collector(gunicorn, deadline)
    while again["pid"] == first["pid"]:
        time.sleep(0.1)
        again = _collector(gunicorn, deadline)
    assert again["enabled"]
    assert again["frozen"] >= FROZEN_AT_LEAST, again
