"""The bare baseline of the queue benchmark: an indexed 20-row list of one table.

`GET /bare/grids/<grid_id>/tickets` runs

    SELECT id, number, status, category_id, building_id, description, created_at, me_too_count
    FROM bare_tickets WHERE grid_id = :g ORDER BY created_at DESC LIMIT 20

over bare_tickets, a copy of the benchmark's tickets that bench/bench_queue.py makes, served by
its index bare_ix_tickets_grid_created (grid_id, created_at) (a table of its own, so that the
index cannot help the product's queries), and answers the 20 rows as JSON, with SQLAlchemy Core
over psycopg. No auth, no ORM, no schema.

    DATABASE_URL=postgresql+psycopg://... gunicorn bench.bare_list_app:app

`GET /bare/ready` answers 200 without touching the database (gunicorn readiness).
"""
from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask

app = Flask(__name__)
app.json.ensure_ascii = False
app.json.sort_keys = False
# The product's pool size (ProductionConfig), without its pre-ping: the bare minimum.
_url = os.environ.get("DATABASE_URL")  # unset when the bench imports only the SQL below
engine = sa.create_engine(_url, pool_size=5, max_overflow=5) if _url else None
_list = sa.text(
    "SELECT id, number, status, category_id, building_id, description, created_at, me_too_count "
    "FROM bare_tickets WHERE grid_id = :g ORDER BY created_at DESC LIMIT 20"
)


@app.get("/bare/ready")
def ready():
    return {"ok": True}


@app.get("/bare/grids/<int:grid_id>/tickets")
def tickets(grid_id: int):
    with engine.connect() as conn:
        rows = conn.execute(_list, {"g": grid_id}).mappings().all()
    return {
        "items": [{**row, "created_at": row["created_at"].isoformat()} for row in rows],
        "next_cursor": None,
    }
