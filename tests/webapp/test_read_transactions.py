"""A successful GET ends its transaction with a COMMIT (psycopg keeps the connection's prepared
statements); an error, or any other method, still ends with the ROLLBACK of the teardown."""
from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from tests.factories import auth_headers, make_registry
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
