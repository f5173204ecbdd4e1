"""A successful GET ends its transaction with a COMMIT (psycopg keeps the connection's prepared
statements); an error, or any other method, still ends with the ROLLBACK of the teardown."""
from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from tests.factories import auth_headers, make_registry
from tests.webapp.threads import in_own_thread
from webapp.extensions import db


@pytest.fixture
def endings(app, app_ctx):
    """What each transaction of the app's engine ended with, in order."""
    seen: list[str] = []

    def on_commit(conn):
        seen.append("commit")

    def on_rollback(conn):
        seen.append("rollback")

    engine = db.engine
    sa.event.listen(engine, "commit", on_commit)
    sa.event.listen(engine, "rollback", on_rollback)
    yield seen
    sa.event.remove(engine, "commit", on_commit)
    sa.event.remove(engine, "rollback", on_rollback)


@pytest.fixture
def resident(client, app_ctx):
    make_registry()
    headers = auth_headers(client, openid="resident-reads")
    db.session.remove()
    return headers


def test_a_successful_read_commits(client, resident, endings):
    response = client.get("/api/v1/tickets/mine", headers=resident)
    assert response.status_code == 200
    assert endings and endings[0] == "commit"


def test_a_failed_read_rolls_back(client, resident, endings):
    response = client.get("/api/v1/tickets/no-such-ticket", headers=resident)
    assert response.status_code == 404
    assert "commit" not in endings


def test_a_refused_write_rolls_back(client, resident, endings):
    response = client.post("/api/v1/tickets", json={"code": "x"}, headers={**resident, "Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "commit" not in endings


@pytest.mark.postgres
def test_prepared_statements_survive_reads(client, resident):
    """The point of it: on PostgreSQL the same read, repeated, runs from a prepared statement
    (psycopg prepares a query on its 5th run on a connection; the pool hands its connections
    out in turn, so every one of them serves 6 reads)."""
    for _ in range(6 * db.engine.pool.size()):
        assert client.get("/api/v1/tickets/mine", headers=resident).status_code == 200
    db.session.remove()
    with contextlib.ExitStack() as stack:  # every connection of the pool at once: one served the reads
        connections = [stack.enter_context(db.engine.connect()) for _ in range(db.engine.pool.size())]
        prepared = [
            conn.execute(sa.text("SELECT count(*) FROM pg_prepared_statements")).scalar() for conn in connections
        ]
    assert max(prepared) > 0


@pytest.fixture
def commit_lost_once(app, app_ctx, monkeypatch):
    """Once armed (append "armed"), the next COMMIT meets a connection the server terminated
    (as while PostgreSQL shuts down); later ones succeed. The list then reads armed, failed."""
    dialect = db.engine.dialect
    real_commit = dialect.do_commit
    failed = []

    def do_commit(dbapi_connection):
        if failed == ["armed"]:
            failed.append("failed")
            raise dialect.loaded_dbapi.OperationalError(
                "terminating connection due to administrator command"
            )
        real_commit(dbapi_connection)

    monkeypatch.setattr(dialect, "do_commit", do_commit)
    return failed


@pytest.mark.parametrize("door", ["api", "console"])
def test_a_database_lost_at_the_reads_commit_is_503(client, app_ctx, commit_lost_once, door):
    """The read's COMMIT runs after the view; a database lost there is the door's 503 with
    Retry-After (never an exception escaping the app, never a 500), the page's security
    headers still set, and the next request answers again."""
    from tests.console.helpers import give_password, sign_in

    registry = make_registry()
    resident = auth_headers(client, openid="resident-reads")
    give_password(registry.community_staff)
    if door == "console":
        assert sign_in(client, registry.community_staff.code).status_code in (302, 303)
    db.session.remove()
    commit_lost_once.append("armed")
    path = "/api/v1/tickets/mine" if door == "api" else "/console/"
    headers = resident if door == "api" else {}
    response = client.get(path, headers=headers)
    assert commit_lost_once == ["armed", "failed"]
    assert response.status_code == 503, response.get_data(as_text=True)[:300]
    assert response.headers["Retry-After"] == str(client.application.config["DB_UNAVAILABLE_RETRY_AFTER"] or 5)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if door == "api":
        assert response.get_json() == {
            "code": "database_unavailable", "message": "服务暂时不可用，请稍后再试", "errors": {},
        }
    else:
        assert response.mimetype == "text/html"
        assert "服务暂时不可用，请稍后再试" in response.get_data(as_text=True)
        assert response.headers["Referrer-Policy"] == "same-origin"
    assert client.get(path, headers=headers).status_code == 200


def test_a_database_lost_at_the_sessions_end_keeps_the_answer(client, app_ctx, monkeypatch):
    """The session's closing ROLLBACK runs after the response is made (here a console page
    that is not there, 404, read by a signed-in member of staff). A connection the server
    terminated under it is not raised (gunicorn would answer 500 in place of the response):
    the response stands, and the next requests answer as usual."""
    from tests.console.helpers import give_password, sign_in

    registry = make_registry()
    code = registry.codes[registry.buildings[0].id]
    resident = auth_headers(client, openid="resident-reads")
    give_password(registry.community_staff)
    staff_code = registry.community_staff.code
    assert in_own_thread(lambda: sign_in(client, staff_code)).status_code in (302, 303)
    db.session.remove()
    dialect = db.engine.dialect
    real_rollback = dialect.do_rollback
    failed = []

    def do_rollback(dbapi_connection):
        if failed == ["armed"]:
            failed.append(dbapi_connection)
            raise dialect.loaded_dbapi.OperationalError(
                "terminating connection due to administrator command"
            )
        real_rollback(dbapi_connection)

    monkeypatch.setattr(dialect, "do_rollback", do_rollback)
    failed.append("armed")
    missing = in_own_thread(lambda: client.get("/console/staff/no-such-person"))
    assert missing.status_code == 404
    assert len(failed) == 2
    assert in_own_thread(lambda: client.get("/console/")).status_code == 200
    again = in_own_thread(lambda: client.post(
        "/api/v1/tickets", headers={**resident, "Idempotency-Key": "after-the-lost-rollback"},
        json={"code": code, "kind": "report", "category": "light", "description": "楼道灯坏了，晚上很黑"},
    ))
    assert again.status_code == 201, again.get_data(as_text=True)[:300]
