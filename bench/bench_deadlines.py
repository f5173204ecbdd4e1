"""Benchmark of the deadline command (webapp.domain.escalation.run_deadlines) over 1M open tickets.

    .venv/bin/python bench/bench_deadlines.py                 # 1,000,000 tickets, PostgreSQL
    .venv/bin/python bench/bench_deadlines.py --tickets 200000 --backlog-minutes 60

Builds a PostgreSQL database of its own (gridreport_bench_deadlines, dropped at the end; or the
database of --url, left alone), migrated by the app's migrations, with one street of 15
communities, 105 grids, 5,250 buildings, 12 categories (2 counted in working days) and
N open tickets written server-side by one INSERT ... SELECT over generate_series.

The tickets are in the state the command leaves them in when it last ran --backlog-minutes
(default 5) before NOW (Monday 2026-11-23 10:00 Asia/Shanghai): 2 % pending in the community
queue, 10 % dispatched (a fifth of them past the accept deadline, up to three days), 78 %
accepted (a tenth past the resolve deadline, up to four days), 10 % resolved awaiting a rating
for up to a week; about 10 % overdue in all, flagged and at the level their overdue time gives
(community, then street after ESCALATION_STEP_HOURS), warned where the warning time has passed.
So the first run does what the minutes since the last run brought: the warnings, flags,
escalations and auto-closes whose moment fell in the backlog window, and nothing else. The
second run, right after, should find next to nothing.

Prints one line per run:

    deadlines/postgresql  tickets=1000000  seconds=0.84  warned=1283 overdue=0 escalated=71 closed=40
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DATABASE = "gridreport_bench_deadlines"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc)
COMMUNITIES, GRIDS_PER_COMMUNITY, BUILDINGS_PER_GRID = 15, 7, 50
# (code, name, accept hours, resolve hours, counts working days)
CATEGORIES = [
    ("light", "楼道照明", 2, 48, False),
    ("fire_lane", "消防通道堵塞", 1, 12, False),
    ("garbage", "垃圾清运", 2, 24, False),
    ("parking", "乱停乱放", 2, 48, False),
    ("noise", "噪音扰民", 2, 48, False),
    ("elevator", "电梯故障", 1, 24, False),
    ("water", "供水故障", 1, 24, False),
    ("power", "停电跳闸", 1, 12, False),
    ("sanitation", "环境卫生", 24, 72, True),
    ("illegal_building", "违章搭建", 24, 240, True),
    ("wish", "心语心愿", 24, 168, False),
    ("suggestion", "意见建议", 24, 168, False),
]
REPORT_CATEGORIES = 10


def build(url: str, tickets: int, backlog_minutes: float) -> None:
    """Migrate the empty database at `url` and fill it (registry, then the tickets)."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
        fraction = app.config["DEADLINE_WARNING_FRACTION"]
        step = app.config["ESCALATION_STEP_HOURS"]
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
        people = (
            "INSERT INTO people (id, code, name, phone, is_away, created_at) "
            "SELECT :prefix || lpad(g::text, 5, '0'), :prefix || g, :name || g, '13800000000', false, now() "
            "FROM generate_series(1, :n) g"
        )
        run(people, prefix="W", name="网格员", n=grids)
        run(people, prefix="C", name="社区", n=COMMUNITIES)
        run(people, prefix="S", name="街道", n=1)
        run(
            "INSERT INTO grids (id, code, name, community_id, worker_id) "
            "SELECT g, 'G' || g, '第' || g || '网格', 1 + (g - 1) / :per, 'W' || lpad(g::text, 5, '0') "
            "FROM generate_series(1, :n) g",
            per=GRIDS_PER_COMMUNITY, n=grids,
        )
        run(
            "INSERT INTO staff_assignments (person_id, role, grid_id) "
            "SELECT 'W' || lpad(g::text, 5, '0'), 'grid_worker', g FROM generate_series(1, :n) g",
            n=grids,
        )
        run(
            "INSERT INTO staff_assignments (person_id, role, community_id) "
            "SELECT 'C' || lpad(c::text, 5, '0'), 'community_staff', c FROM generate_series(1, :n) c",
            n=COMMUNITIES,
        )
        run("INSERT INTO staff_assignments (person_id, role, street_id) VALUES ('S00001', 'street_staff', 1)")
        run(
            "INSERT INTO buildings (id, code, name, address, grid_id) "
            "SELECT b, 'B' || b, b || '号楼', '凤凰路' || b || '号', 1 + (b - 1) % :grids "
            "FROM generate_series(1, :n) b",
            grids=grids, n=buildings,
        )
        for index, (code, name, accept, resolve, workdays) in enumerate(CATEGORIES, 1):
            run(
                "INSERT INTO categories (id, code, name, kind, accept_hours, resolve_hours, uses_workdays, "
                "sort_order, is_active) VALUES (:id, :code, :name, :kind, :a, :r, :w, :id, true)",
                id=index, code=code, name=name, kind="report" if index <= REPORT_CATEGORIES else "wish",
                a=accept, r=resolve, w=workdays,
            )
        run("SELECT setseed(0.20261123)")
        started = time.perf_counter()
        run(
            TICKETS_SQL,
            n=tickets, now=NOW, prev=NOW - timedelta(minutes=backlog_minutes),
            buildings=buildings, categories=REPORT_CATEGORIES, lead=1.0 - fraction, step=step,
            resolved_window=7 * 24 + backlog_minutes / 60,
        )
        print(f"  · {tickets} tickets written in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for table in ("communities", "grids", "buildings", "categories", "staff_assignments"):
            run(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


# Layer by layer: random draws → status and age → times → the flags of the last run at :prev.
TICKETS_SQL = """
INSERT INTO tickets (
    id, number, kind, status, category_id, building_id, grid_id, community_id, street_id,
    description, is_anonymous, is_rider_report, assignee_id, created_at, updated_at,
    dispatched_at, accepted_at, resolved_at, accept_due_at, resolve_due_at, level, is_overdue,
    overdue_at, warned_accept_at, warned_resolve_at, me_too_count, reopen_count, return_count,
    needs_review, photo_ids, version)
SELECT
    substr(md5(i::text), 1, 22), 'BD-' || i, 'report', status, category_id, building_id, grid_id,
    community_id, 1, '楼道灯坏了，晚上很黑，请尽快修理', false, false,
    CASE WHEN status = 'pending' THEN NULL ELSE worker_id END,
    coalesce(dispatched_at, created_at), :now, dispatched_at,
    CASE WHEN status IN ('accepted', 'resolved') THEN dispatched_at + interval '30 minutes' END,
    resolved_at, accept_due_at, resolve_due_at,
    CASE WHEN breach <= :prev - make_interval(secs => :step * 3600) THEN 'street'
         WHEN breach <= :prev THEN 'community' ELSE 'grid' END,
    coalesce(breach <= :prev, false),
    CASE WHEN breach <= :prev THEN breach END,
    CASE WHEN status = 'dispatched' AND accept_due_at - accept_lead <= :prev
         THEN accept_due_at - accept_lead END,
    CASE WHEN status = 'accepted' AND resolve_due_at - resolve_lead <= :prev
         THEN resolve_due_at - resolve_lead END,
    0, 0, 0, false, '[]', 1
FROM (
    SELECT *,
        CASE status WHEN 'dispatched' THEN accept_due_at WHEN 'accepted' THEN resolve_due_at END AS breach
    FROM (
        SELECT *,
            dispatched_at + make_interval(secs => accept_hours * 3600) AS accept_due_at,
            dispatched_at + make_interval(secs => resolve_hours * 3600) AS resolve_due_at,
            make_interval(secs => :lead * accept_hours * 3600) AS accept_lead,
            make_interval(secs => :lead * resolve_hours * 3600) AS resolve_lead
        FROM (
            SELECT *,
                CASE status
                    WHEN 'pending' THEN NULL
                    WHEN 'dispatched' THEN :now - make_interval(secs => 3600 * CASE WHEN r_tail < 0.8
                        THEN r_age * accept_hours ELSE accept_hours + r_age * 72 END)
                    WHEN 'accepted' THEN :now - make_interval(secs => 3600 * CASE WHEN r_tail < 0.9
                        THEN r_age * resolve_hours ELSE resolve_hours + r_age * 96 END)
                    ELSE :now - make_interval(secs => 3600 * (r_age * :resolved_window + 10))
                END AS dispatched_at,
                CASE WHEN status = 'resolved'
                    THEN :now - make_interval(secs => 3600 * r_age * :resolved_window) END AS resolved_at,
                :now - make_interval(secs => 3600 * r_age * 24) AS created_at
            FROM (
                SELECT g AS i,
                    CASE WHEN r_status < 0.02 THEN 'pending' WHEN r_status < 0.12 THEN 'dispatched'
                         WHEN r_status < 0.90 THEN 'accepted' ELSE 'resolved' END AS status,
                    r_age, r_tail, c.id AS category_id, c.accept_hours, c.resolve_hours,
                    b.id AS building_id, gr.id AS grid_id, gr.community_id, gr.worker_id
                FROM (
                    SELECT g, random() AS r_status, random() AS r_age, random() AS r_tail,
                        1 + (g % :categories) AS category, 1 + ((g::bigint * 7919) % :buildings)::int AS building
                    FROM generate_series(1, :n) g
                ) draws
                JOIN categories c ON c.id = draws.category
                JOIN buildings b ON b.id = draws.building
                JOIN grids gr ON gr.id = b.grid_id
            ) statuses
        ) times
    ) dues
) flagged
"""


def measure(url: str, tickets: int) -> list[str]:
    """Run the command twice at NOW on the filled database; one line per run."""
    from webapp import create_app
    from webapp.config import Config
    from webapp.domain.escalation import run_deadlines
    from webapp.extensions import db

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    lines = []
    with app.app_context():
        count = db.session.scalar(
            sa.text("SELECT count(*) FROM tickets WHERE status IN ('pending','dispatched','accepted','resolved')")
        )
        db.session.commit()
        for label, at in (("first", NOW), ("second", NOW + timedelta(seconds=1))):
            started = time.perf_counter()
            report = run_deadlines(at)
            seconds = time.perf_counter() - started
            lines.append(
                f"deadlines/postgresql  tickets={count}  seconds={seconds:.2f}  run={label}  "
                f"warned={report.warned_accept + report.warned_resolve}  "
                f"overdue={report.marked_overdue}  escalated={sum(report.escalated.values())}  "
                f"closed={report.auto_closed}  messages={report.messages}  skipped={report.skipped}"
            )
        db.session.remove()
        db.engine.dispose()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--backlog-minutes", type=float, default=5.0, help="since the last run")
    parser.add_argument("--url", help="an existing, empty PostgreSQL database to use (kept)")
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
        build(url, args.tickets, args.backlog_minutes)
        print(f"  · database built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for line in measure(url, args.tickets):
            print(line, flush=True)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                _drop(conn)
            admin.dispose()
    return 0


def _drop(conn) -> None:
    conn.execute(
        sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": DATABASE}
    )
    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}"'))


def bench_deadlines_postgresql(ctx) -> list[tuple]:
    """For bench/run.py: this script in a child process on a scratch database of the run.

    1,000,000 tickets (100,000 with --quick); rows deadlines/postgresql/{first,second}_s.
    """
    from bench import harness

    url = harness.postgres_database(ctx, prefix=DATABASE)
    count = 100_000 if ctx.quick else 1_000_000
    out = subprocess.run(
        [ctx.python, str(Path(__file__)), "--url", url, "--tickets", str(count)],
        capture_output=True, text=True, cwd=ROOT, timeout=3600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_deadlines.py exited with {out.returncode}:\n{out.stdout}\n{out.stderr}")
    rows = []
    for line in out.stdout.splitlines():
        if line.startswith("deadlines/"):
            ctx.say(line)
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            rows.append((f"deadlines/postgresql/{fields['run']}_s", float(fields["seconds"]), "s"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
