"""The bare baseline of the submission benchmark: one POST that inserts one row and commits.

`POST /bare/tickets` reads the same JSON body the product gets (and the same headers, which it
ignores but for Idempotency-Key), inserts one row into `bare_tickets` (a table of its own,
created by bench/bench_submit.py) with SQLAlchemy Core over psycopg, commits (a durable commit
on a server with synchronous_commit on) and answers 201 with a small JSON object. No auth, no
ORM, no validation beyond what the insert needs: what is left is Flask, gunicorn, one round
trip and one WAL flush.

    DATABASE_URL=postgresql+psycopg://... gunicorn bench.bare_insert_app:app

`GET /bare/ready` answers 200 without touching the database (gunicorn readiness).
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import Flask, request

CREATE_SQL = """
CREATE TABLE IF NOT EXISTS bare_tickets (
    id bigserial PRIMARY KEY,
    idempotency_key varchar(100) NOT NULL,
    code varchar(64) NOT NULL,
    category varchar(40) NOT NULL,
    description text NOT NULL,
    created_at timestamptz NOT NULL
)
"""

app = Flask(__name__)
app.json.ensure_ascii = False
app.json.sort_keys = False
# The product's pool size (ProductionConfig), without its pre-ping: the bare minimum.
_url = os.environ.get("DATABASE_URL")  # unset when the bench imports only the SQL below
engine = sa.create_engine(_url, pool_size=5, max_overflow=5) if _url else None
_insert = sa.text(
    "INSERT INTO bare_tickets (idempotency_key, code, category, description, created_at) "
    "VALUES (:key, :code, :category, :description, :created_at) RETURNING id"
)


@app.get("/bare/ready")
def ready():
    return {"ok": True}


@app.post("/bare/tickets")
def create():
    body = request.get_json()
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        row_id = conn.execute(
            _insert,
            {
                "key": request.headers.get("Idempotency-Key", ""),
                "code": body["code"],
                "category": body["category"],
                "description": body["description"],
                "created_at": now,
            },
        ).scalar_one()
    return {"id": row_id, "code": body["code"], "created_at": now.isoformat()}, 201
