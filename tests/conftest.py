"""Shared fixtures: an app on a fresh database built by the migrations, a client, factories.

TEST_DATABASE=sqlite (default) uses a temporary SQLite file; TEST_DATABASE=postgresql creates
a database of its own on the PostgreSQL server at TEST_POSTGRES_URL and drops it afterwards.
Under CI (CI=true) a missing PostgreSQL server fails the run instead of skipping.
"""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from webapp import create_app
from webapp.config import TestingConfig
from webapp.extensions import db
from webapp.people.auth import actor_cache
from webapp.tickets import names

DB_KIND = os.environ.get("TEST_DATABASE", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres need the server's row locks and concurrency: they run in the
    PostgreSQL pass and are deselected (not skipped) in the SQLite pass."""
    if DB_KIND == "postgresql":
        return
    deselected = [item for item in items if "postgres" in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if "postgres" not in item.keywords]


def _postgres_database():
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"gridreport_test_{uuid.uuid4().hex[:10]}"
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {error}"
        if IN_CI:
            pytest.exit(message, returncode=3)
        pytest.skip(message)
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name)
    return admin, name, url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if DB_KIND == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    if DB_KIND != "postgresql":
        raise pytest.UsageError("TEST_DATABASE must be sqlite or postgresql")
    admin, name, url = _postgres_database()
    yield url
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
            ),
            {"name": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    """One app for the session; its schema comes from the migrations, never create_all."""
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        UPLOAD_DIR=str(tmp_path_factory.mktemp("photos")),
        PUBLIC_BASE_URL="https://grid.example.cn",
    )
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Each test starts on empty tables (committed rows are deleted after it) and with no
    actor cached by token nor names kept (a test may turn AUTH_CACHE_SECONDS or
    SCAN_CACHE_SECONDS on)."""
    yield
    actor_cache.clear()
    names.clear()
    _reset_rate_limits()
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


def _reset_rate_limits() -> None:
    """No test inherits another's counts (the limiter and its memory storage are per process)."""
    from webapp.limits import limiter

    try:
        limiter.reset()
    except Exception:  # noqa: BLE001 - a test left it on an unreachable storage
        pass


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def wechat_http(app, monkeypatch):
    """A configured WeChat gateway on the app, with WeChat's HTTP mocked by `responses`, so the
    real wechatpy code runs. Yields the RequestsMock to register answers on."""
    import responses
    from wechatpy.session.memorystorage import MemoryStorage

    from webapp.wechat import WeChatGateway

    gateway = WeChatGateway("wx-test-app", "s3cret", timeout=2, storage=MemoryStorage())
    monkeypatch.setitem(app.extensions, "wechat", gateway)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(
            "https://api.weixin.qq.com/cgi-bin/stable_token",
            json={"access_token": "TOKEN", "expires_in": 7200},
        )
        yield mock
