"""The bare baseline of the submission benchmark: one POST that inserts one row and commits.

`POST /bare/tickets` reads the same JSON body the product gets (and the same headers, which it
ignores but for Idempotency-Key), inserts one row into `bare_tickets` (a table of its own,
created by bench/bench_submit.py) with SQLAlchemy Core over psycopg, commits (a durable commit
on a server with synchronous_commit on) and answers 201 with a small JSON object. No auth, no
ORM, no validation beyond what the insert needs: what is left is Flask, gunicorn, one round
trip and one WAL flush.

    DATABASE_URL=postgresql+psycopg://... gunicorn bench.bare_insert_app:app

`POST /floor/tickets` is the floor of any submission: the rows the product must write for
one report (the ticket, its first event, its idempotency record, the assignee's outbox message)
into the product's own tables (their indexes, foreign keys and triggers), by ONE statement
(data-modifying CTEs, the building read from the code inside it) and one durable commit. No
auth, no validation, no routing rules, no content check, the number from a sequence: what is
left is what the schema costs. If the floor is below the target, no implementation of the
submission can meet it on this machine.

`GET /bare/ready` answers 200 without touching the database (gunicorn readiness).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime, timedelta, timezone

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


FLOOR_SETUP_SQL = ["CREATE SEQUENCE IF NOT EXISTS floor_ticket_numbers"]
FLOOR_PREFIX = "FLOOR-"  # the floor's tickets, told apart from the product's when counting
_floor = sa.text("""
WITH place AS (
    SELECT b.id AS building_id, g.id AS grid_id, g.community_id, c.street_id, g.worker_id
    FROM building_codes bc
    JOIN buildings b ON b.id = bc.building_id
    JOIN grids g ON g.id = b.grid_id
    JOIN communities c ON c.id = g.community_id
    WHERE bc.code = :code AND bc.revoked_at IS NULL
), ticket AS (
    INSERT INTO tickets (
        id, number, kind, status, category_id, building_id, grid_id, community_id, street_id,
        description, is_anonymous, is_rider_report, contact_phone, assignee_id, created_at,
        updated_at, dispatched_at, accept_due_at, resolve_due_at, level, is_overdue,
        me_too_count, reopen_count, return_count, needs_review, photo_ids, version)
    SELECT :id, :prefix || nextval('floor_ticket_numbers'), 'report', 'dispatched',
        (SELECT id FROM categories WHERE code = :category), building_id, grid_id, community_id,
        street_id, :description, false, false, :phone, worker_id, :now, :now, :now,
        :accept_due, :resolve_due, 'grid', false, 0, 0, 0, false, '[]', 1
    FROM place
    RETURNING id, assignee_id
), event AS (
    INSERT INTO ticket_events (ticket_id, at, action, actor_role, to_status, rule, photo_ids)
    SELECT id, :now, 'submit', 'resident', 'dispatched', 'grid_worker', '[]' FROM ticket
), claim AS (
    INSERT INTO idempotency_records (key_hash, fingerprint, ticket_id, created_at)
    SELECT :key_hash, :key_hash, id, :now FROM ticket
), message AS (
    INSERT INTO outbox_messages (person_id, channel, kind, ticket_id, template_id, payload,
        state, attempts, next_attempt_at, created_at)
    SELECT assignee_id, 'log', 'ticket_assigned', id, 'floor', '{}', 'pending', 0, :now, :now
    FROM ticket WHERE assignee_id IS NOT NULL
)
SELECT id FROM ticket
""")


@app.post("/floor/tickets")
def floor():
    body = request.get_json()
    now = datetime.now(timezone.utc)
    key = request.headers.get("Idempotency-Key", "")
    with engine.begin() as conn:
        ticket_id = conn.execute(
            _floor,
            {
                "code": body["code"], "category": body["category"],
                "description": body["description"], "phone": body.get("contact_phone"),
                "id": secrets.token_urlsafe(16)[:22], "prefix": FLOOR_PREFIX, "now": now,
                "accept_due": now + timedelta(hours=2), "resolve_due": now + timedelta(hours=72),
                "key_hash": hashlib.sha256(key.encode()).hexdigest(),
            },
        ).scalar_one()
    return {"id": ticket_id, "code": body["code"], "created_at": now.isoformat()}, 201
