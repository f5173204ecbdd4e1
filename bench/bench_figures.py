"""Benchmark of the figures (GET /api/v1/work/stats) of a street with 500,000 tickets in the period.

    .venv/bin/python bench/bench_figures.py                   # 500,000 tickets, PostgreSQL
    .venv/bin/python bench/bench_figures.py --tickets 100000 --repeat 10

Builds a PostgreSQL database of its own (gridreport_bench_figures, dropped at the end; or the
database of --url, left alone), migrated by the app's migrations, with one street of 15
communities, 105 grids, 5,250 buildings and 12 categories (10 reports, 2 wishes), and N tickets
created over November 2026 (Beijing), written server-side by one INSERT ... SELECT over
generate_series, in the states the state machine would leave them at NOW (2026-11-30 20:00):
3 % rejected or merged, 85 % accepted in time, 12 % late, 3 % never; a tenth resolved late, 3 %
reopened once; 70 % of the closed ones rated, the others closed automatically; a tenth wishes.
The figures read the tickets' columns only (webapp/figures/definitions.py): no event rows are
written here.

Then asks, through the app's test client with a street staff member's bearer token (the whole
view: parsing, the statements, the schema, the JSON), for the figures of November of the
street, of one community and of one grid, each --repeat times after two warm-up calls, and
prints one line per scope:

    figures/postgresql  scope=street  tickets=500000  in_scope=500000  p50_ms=420.0  p99_ms=480.0  max_ms=...
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE = "gridreport_bench_figures"
BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=BEIJING).astimezone(timezone.utc)
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=BEIJING).astimezone(timezone.utc)
COMMUNITIES, GRIDS_PER_COMMUNITY, BUILDINGS_PER_GRID = 15, 7, 50
CATEGORIES = [  # (code, name, accept hours, resolve hours)
    ("light", "楼道照明", 2, 48), ("fire_lane", "消防通道堵塞", 1, 12), ("garbage", "垃圾清运", 2, 24),
    ("parking", "乱停乱放", 2, 48), ("noise", "噪音扰民", 2, 48), ("elevator", "电梯故障", 1, 24),
    ("water", "供水故障", 1, 24), ("power", "停电跳闸", 1, 12), ("sanitation", "环境卫生", 24, 72),
    ("illegal_building", "违章搭建", 24, 240), ("wish", "心语心愿", 24, 168), ("suggestion", "意见建议", 24, 168),
]
REPORT_CATEGORIES = 10


def build(url: str, tickets: int, rolled_up: bool = True, reshape: tuple[str, dict] | None = None) -> None:
    """The street and `tickets` tickets (TICKETS_SQL), rolled up (rolled_up), then indexed and
    analyzed. `reshape`: a statement and its parameters run over the new tickets before their
    indexes are built (bench_exports.py makes every ticket a closed report), which costs a
    fraction of the same update run over the indexed table."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    engine = sa.create_engine(url)
    grids = COMMUNITIES * GRIDS_PER_COMMUNITY
    buildings = grids * BUILDINGS_PER_GRID
    with engine.begin() as conn:
        run = lambda sql, **params: conn.execute(sa.text(sql), params)  # noqa: E731
        run("INSERT INTO streets (id, code, name, ticket_prefix) VALUES (1, 'FL', '凤凰街道', 'JY')")
        run(
            "INSERT INTO communities (id, code, name, street_id) "
            "SELECT c, 'FL-' || lpad(c::text, 2, '0'), '第' || c || '社区', 1 FROM generate_series(1, :n) c",
            n=COMMUNITIES,
        )
        run(
            "INSERT INTO grids (id, code, name, community_id) "
            "SELECT g, 'G' || g, '第' || g || '网格', 1 + (g - 1) / :per FROM generate_series(1, :n) g",
            per=GRIDS_PER_COMMUNITY, n=grids,
        )
        run(
            "INSERT INTO buildings (id, code, name, address, grid_id) "
            "SELECT b, 'B' || b, b || '号楼', '凤凰路' || b || '号', 1 + (b - 1) % :grids FROM generate_series(1, :n) b",
            grids=grids, n=buildings,
        )
        for index, (code, name, accept, resolve) in enumerate(CATEGORIES, 1):
            run(
                "INSERT INTO categories (id, code, name, kind, accept_hours, resolve_hours, uses_workdays, "
                "sort_order, is_active) VALUES (:id, :code, :name, :kind, :a, :r, false, :id, true)",
                id=index, code=code, name=name, kind="report" if index <= REPORT_CATEGORIES else "wish",
                a=accept, r=resolve,
            )
        run("INSERT INTO people (id, code, name, phone, is_away, created_at) VALUES ('S00001', 'S1', '街道', '13800000000', false, now())")
        run("INSERT INTO staff_assignments (person_id, role, street_id) VALUES ('S00001', 'street_staff', 1)")
        run("SELECT setseed(0.20261130)")
        indexes = harness.drop_ticket_indexes(run)
        started = time.perf_counter()
        run(TICKETS_SQL, n=tickets, start=START, now=NOW, buildings=buildings, categories=REPORT_CATEGORIES)
        if reshape is not None:
            statement, params = reshape
            run(statement, **params)
        for table in ("communities", "grids", "buildings", "categories", "staff_assignments"):
            run(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    if rolled_up:  # what `flask figures rollup` does each night; before the indexes, for speed
        with app.app_context():
            from webapp.figures import rollup

            rolling = time.perf_counter()
            rolled = rollup.roll_up(NOW, batch=100_000)
            rows = db.session.scalar(sa.text("SELECT count(*) FROM figures_daily"))
            print(f"  · {rolled} settled tickets rolled up into {rows} rows in {time.perf_counter() - rolling:.1f} s",
                  file=sys.stderr)
            db.session.remove()
            db.engine.dispose()
    with engine.begin() as conn:
        for definition in indexes:
            conn.execute(sa.text(definition))
    print(f"  · {tickets} tickets written, rolled up and indexed in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    engine.dispose()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


# Draws → delays and times → the status at :now → the columns the state machine would have set.
TICKETS_SQL = """
INSERT INTO tickets (
    id, number, kind, status, category_id, building_id, grid_id, community_id, street_id,
    description, is_anonymous, is_rider_report, created_at, updated_at, dispatched_at,
    accepted_at, resolved_at, closed_at, accept_due_at, resolve_due_at, level, is_overdue,
    me_too_count, rating, reopen_count, return_count, needs_review, photo_ids, version)
SELECT
    substr(md5(g::text), 1, 22), 'FG-' || g, kind, status, category_id, building_id, grid_id,
    community_id, 1, '楼道灯坏了，晚上很黑，请尽快修理', false, false, created_at, :now, created_at,
    CASE WHEN status IN ('accepted', 'resolved', 'closed') THEN accepted_at END,
    CASE WHEN status IN ('resolved', 'closed') THEN resolved_at END,
    CASE WHEN status = 'closed' THEN closed_at
         WHEN status IN ('rejected', 'merged') THEN created_at + interval '1 hour' END,
    accept_due_at, resolve_due_at, 'grid', false, 0,
    CASE WHEN status = 'closed' AND r_rate < 0.7 THEN 1 + floor(r_score * 5)::int END,
    CASE WHEN r_reopen < 0.03 AND status IN ('resolved', 'closed') THEN 1 ELSE 0 END,
    0, false, '[]', 1
FROM (
    SELECT *,
        CASE WHEN r_drop < 0.02 THEN 'rejected' WHEN r_drop < 0.03 THEN 'merged'
             WHEN accepted_at > :now THEN 'dispatched'
             WHEN resolved_at > :now THEN 'accepted'
             WHEN closed_at > :now THEN 'resolved' ELSE 'closed' END AS status
    FROM (
        SELECT *,
            accepted_at + make_interval(secs => 3600 * resolve_delay) AS resolved_at,
            accepted_at + make_interval(secs => 3600 * (resolve_delay + CASE WHEN r_rate < 0.7 THEN 24 * random() ELSE 168 END)) AS closed_at
        FROM (
            SELECT *,
                created_at + make_interval(secs => 3600 * accept_delay) AS accepted_at,
                created_at + make_interval(secs => 3600 * accept_hours) AS accept_due_at,
                created_at + make_interval(secs => 3600 * resolve_hours) AS resolve_due_at
            FROM (
                SELECT d.g, d.r_drop, d.r_rate, d.r_score, d.r_reopen, c.accept_hours, c.resolve_hours,
                    c.id AS category_id, c.kind, b.id AS building_id, gr.id AS grid_id, gr.community_id,
                    :start + (:now - :start) * random() AS created_at,
                    CASE WHEN d.r_accept < 0.03 THEN 1e6
                         WHEN d.r_accept < 0.88 THEN random() * 0.9 * c.accept_hours
                         ELSE c.accept_hours * (1 + 3 * random()) END AS accept_delay,
                    CASE WHEN d.r_resolve < 0.90 THEN (0.1 + 0.8 * random()) * c.resolve_hours
                         ELSE c.resolve_hours * (1 + 1.5 * random()) END AS resolve_delay
                FROM (
                    SELECT g, random() AS r_drop, random() AS r_accept, random() AS r_resolve,
                        random() AS r_rate, random() AS r_score, random() AS r_reopen,
                        CASE WHEN g % 10 = 0 THEN 11 + g % 2 ELSE 1 + (g % :categories) END AS category,
                        1 + ((g::bigint * 7919) % :buildings)::int AS building
                    FROM generate_series(1, :n) g
                ) d
                JOIN categories c ON c.id = d.category
                JOIN buildings b ON b.id = d.building
                JOIN grids gr ON gr.id = b.grid_id
            ) draws
        ) accepted
    ) times
) statuses
"""


def measure(url: str, repeat: int) -> list[str]:
    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.figures import compute
    from webapp.people.auth import start_session

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    compute.utcnow = lambda: NOW  # the figures as of the data's NOW
    lines = []
    with app.app_context():
        token, _ = start_session("S00001")
        db.session.commit()
        total = db.session.scalar(sa.text("SELECT count(*) FROM tickets"))
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for scope, extra in (("street", {}), ("community", {"community_id": 1}), ("grid", {"grid_id": 1})):
        query = {"from": "2026-11-01", "to": "2026-12-01", **extra}
        for _ in range(2):
            client.get("/api/v1/work/stats", query_string=query, headers=headers)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get("/api/v1/work/stats", query_string=query, headers=headers)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)[:500]
        body = response.get_json()
        times.sort()
        p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
        lines.append(
            f"figures/postgresql  scope={scope}  tickets={total}  in_scope={body['tickets_in']}  "
            f"p50_ms={statistics.median(times):.1f}  p99_ms={p99:.1f}  max_ms={times[-1]:.1f}  "
            f"repeat={repeat}  response_rate={body['response_rate']:.3f}  hotspots={len(body['hotspots'])}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=30, help="measured calls per scope")
    parser.add_argument("--url", help="an existing, empty PostgreSQL database to use (kept)")
    parser.add_argument("--no-rollup", action="store_true",
                        help="leave the daily rollup empty: every ticket is read from its columns")
    args = parser.parse_args(argv)
    admin = None
    url = args.url
    if url is None:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            _drop(conn)
            conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    try:
        started = time.perf_counter()
        build(url, args.tickets, rolled_up=not args.no_rollup)
        print(f"  · database built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for line in measure(url, args.repeat):
            print(line, flush=True)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                _drop(conn)
            admin.dispose()
    return 0


def _drop(conn) -> None:
    conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": DATABASE})
    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}"'))


def bench_figures_postgresql(ctx) -> list[tuple]:
    """For bench/run.py: this script in a child process on a scratch database of the run.

    500,000 tickets, 30 calls per scope (100,000 and 5 with --quick); rows
    figures/postgresql/<scope>_{p50,p99}_ms.
    """
    url = harness.postgres_database(ctx, prefix=DATABASE)
    count, repeat = (100_000, 5) if ctx.quick else (500_000, 30)
    out = subprocess.run(
        [ctx.python, str(Path(__file__)), "--url", url, "--tickets", str(count), "--repeat", str(repeat)],
        capture_output=True, text=True, cwd=ROOT, timeout=3600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_figures.py exited with {out.returncode}:\n{out.stdout}\n{out.stderr}")
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("figures/"):
            ctx.say(line)
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            for key in ("p50_ms", "p99_ms"):
                rows.append((f"figures/postgresql/{fields['scope']}_{key}", float(fields[key]), "ms"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
