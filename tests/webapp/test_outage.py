"""A database that cannot be reached: 503 with Retry-After, never a 500; recovery by itself.

The app runs against a private PostgreSQL cluster (initdb on a free port in a temporary
directory, started and stopped by the test; the shared server on 5432 is never touched), with
production's pool settings. Stopping the cluster makes the API answer 503 database_unavailable
in the contract's shape and the phone page and the console a Chinese page; starting it again
brings 200s back without restarting the app.

Without PostgreSQL's server binaries (initdb) the test is skipped; under CI (CI=true) it fails.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest
import sqlalchemy as sa

from tests.conftest import IN_CI
from tests.factories import make_registry
from webapp.config import ProductionConfig
from webapp.extensions import db

UNAVAILABLE = {"code": "database_unavailable", "message": "服务暂时不可用，请稍后再试", "errors": {}}


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """One PostgreSQL cluster of the test's own: initdb, start, stop, start again."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.root = tempfile.mkdtemp(prefix="gridreport-pg-")
        self.data = os.path.join(self.root, "data")
        # initdb refuses to run as root: run the server as the postgres user then.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.root, "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run(f"{self.bindir}/initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale", "C")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-o", options, "-l",
                  os.path.join(self.root, "log"), "-w", "start")

    def stop(self) -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster():
    bindir = _bindir()
    if bindir is None:
        message = "PostgreSQL's server binaries (initdb) are not installed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    cluster = PrivateCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def outage_app(cluster, tmp_path):
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import TestingConfig

    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=cluster.url(),
        SQLALCHEMY_ENGINE_OPTIONS=dict(ProductionConfig.SQLALCHEMY_ENGINE_OPTIONS),
        UPLOAD_DIR=str(tmp_path),
        DB_UNAVAILABLE_RETRY_AFTER=7,
    )
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


def _assert_page(response):
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "服务暂时不可用，请稍后再试" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "7"


def test_database_down_is_503_with_retry_after_and_comes_back_by_itself(cluster, outage_app):
    registry = make_registry()
    code = registry.codes[registry.buildings[0].id]
    api, phone, console = outage_app.test_client(), outage_app.test_client(), outage_app.test_client()
    login_page = console.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    sign_in = {"username": "P-ZM", "password": "wrong-password", "csrf_token": csrf}
    assert api.get(f"/api/v1/scan/{code}").status_code == 200
    assert phone.get(f"/b/{code}").status_code == 200
    db.session.remove()

    cluster.stop()
    for _ in range(2):  # a pooled connection that died, then a connection refused
        down = api.get(f"/api/v1/scan/{code}")
        assert down.status_code == 503, down.get_data(as_text=True)
        assert down.get_json() == UNAVAILABLE
        assert down.headers["Retry-After"] == "7"
    submitted = api.post("/api/v1/auth/dev", json={"openid": "somebody"})
    assert submitted.status_code == 503 and submitted.get_json() == UNAVAILABLE
    _assert_page(phone.get(f"/b/{code}"))
    _assert_page(console.post("/console/login", data=sign_in))
    db.session.remove()

    cluster.start()
    statuses = [api.get(f"/api/v1/scan/{code}").status_code for _ in range(5)]
    assert statuses == [200] * 5, statuses
    assert phone.get(f"/b/{code}").status_code == 200
    assert console.post("/console/login", data=sign_in).status_code == 401  # the database answers


@pytest.mark.parametrize("pre_ping", [False, True])
def test_a_restart_while_idle_heals_the_pool(cluster, outage_app, pre_ping):
    """The pooled connections died with the server. Production's default (no pre-ping): the
    first request that meets a dead connection answers 503 with Retry-After and empties the
    pool; every later one answers 200. With DB_POOL_PRE_PING=1 no request fails."""
    registry = make_registry()
    code = registry.codes[registry.buildings[0].id]
    client = outage_app.test_client()
    options = {**outage_app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": pre_ping}
    db.engine.dispose()
    db.engines[None] = sa.create_engine(cluster.url(), **options)
    assert client.get(f"/api/v1/scan/{code}").status_code == 200
    db.session.remove()
    cluster.stop()
    cluster.start()
    statuses = [client.get(f"/api/v1/scan/{code}").status_code for _ in range(4)]
    if pre_ping:
        assert statuses == [200] * 4, statuses
    else:
        assert statuses[0] in (200, 503) and statuses[1:] == [200] * 3, statuses
