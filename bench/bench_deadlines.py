"""Benchmark of the deadline command (webapp.tickets.deadline_sweep.run_deadlines) over 1M open tickets.

    .venv/bin/python bench/bench_deadlines.py                 # 1,000,000 tickets, PostgreSQL
    .venv/bin/python bench/bench_deadlines.py --tickets 200000 --backlog-minutes 60

Builds a PostgreSQL database of its own (gridreport_bench_deadlines, dropped at the end; or the
database of --url, left alone), migrated by the app's migrations, with one street of 15
communities, 105 grids, 5,250 buildings, 12 categories (2 counted in working days) and
N open tickets written server-side by one INSERT ... SELECT over generate_series.

The tickets come from a steady inflow over the last ten days, each with its own delays (a tenth
accepted late, 2 % never accepted, a tenth resolved late, 40 % never rated), and are in the
state the command left them in when it last ran --backlog-minutes (default 5) before NOW
(Monday 2026-11-23 10:00 Asia/Shanghai): flagged overdue and at the ladder level their overdue
time gave (about 10 % of the open tickets are overdue now, a few percent at the street),
warned where the warning time had passed, auto-closed where a week had passed unrated. Only
the N tickets still open at NOW are written (dispatched, accepted, resolved awaiting rating).
Deadlines are computed in clock hours here, also for the two working-day categories (the
command's thresholds for those use the calendar: a few of them find work a clock would not).

So the first run does what the minutes since the last run brought: the warnings, flags,
escalations and auto-closes whose moment fell in the backlog window, and nothing else. The
second run, a second later, should find next to nothing.

Prints one line per run:

    deadlines/postgresql  tickets=1000000  seconds=2.8  run=first  warned=350  overdue=0  escalated=188 ...
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

from bench import harness  # noqa: E402

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
        auto_close_days = app.config["AUTO_CLOSE_DAYS"]
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
        indexes = harness.drop_ticket_indexes(run)
        started = time.perf_counter()
        run(
            TICKETS_SQL,
            n=tickets, candidates=int(tickets / OPEN_SHARE * 1.1), now=NOW,
            prev=NOW - timedelta(minutes=backlog_minutes), hours=HOURS,
            buildings=buildings, categories=REPORT_CATEGORIES, lead=1.0 - fraction, step=step,
            auto_close_hours=auto_close_days * 24,
        )
        for definition in indexes:
            run(definition)
        print(f"  · {tickets} tickets written and indexed in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for table in ("communities", "grids", "buildings", "categories", "staff_assignments"):
            run(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


# A steady inflow over the last ten days, each ticket with its own delays, as the command left
# them at :prev. Layer by layer: draws → delays and times → status at :now → flags at :prev.
HOURS = 240  # the arrivals cover ten days: longer than any open ticket's life in the model
TICKETS_SQL = """
INSERT INTO tickets (
    id, number, kind, status, category_id, building_id, grid_id, community_id, street_id,
    description, is_anonymous, is_rider_report, assignee_id, created_at, updated_at,
    dispatched_at, accepted_at, resolved_at, accept_due_at, resolve_due_at, level, is_overdue,
    overdue_at, warned_accept_at, warned_resolve_at, me_too_count, reopen_count, return_count,
    needs_review, photo_ids, version)
SELECT
    substr(md5(i::text), 1, 22), 'BD-' || i, 'report', status, category_id, building_id, grid_id,
    community_id, 1, '楼道灯坏了，晚上很黑，请尽快修理', false, false, worker_id,
    dispatched_at, :now, dispatched_at,
    CASE WHEN status <> 'dispatched' THEN accepted_at END,
    CASE WHEN status = 'resolved' THEN resolved_at END,
    accept_due_at, resolve_due_at,
    CASE WHEN over >= make_interval(secs => :step * 3600) THEN 'street'
         WHEN over > interval '0' THEN 'community' ELSE 'grid' END,
    over > interval '0',
    CASE WHEN accept_over > interval '0' THEN accept_due_at
         WHEN over > interval '0' THEN resolve_due_at END,
    CASE WHEN accept_due_at - accept_lead <= least(accepted_at, :prev) THEN accept_due_at - accept_lead END,
    CASE WHEN accepted_at <= :prev
          AND greatest(resolve_due_at - resolve_lead, accepted_at) <= least(resolved_at, :prev)
         THEN greatest(resolve_due_at - resolve_lead, accepted_at) END,
    0, 0, 0, false, '[]', 1
FROM (
    SELECT *, greatest(accept_over, resolve_over) AS over
    FROM (
        SELECT *,
            least(accepted_at, :prev) - accept_due_at AS accept_over,
            CASE WHEN accepted_at <= :prev THEN least(resolved_at, :prev) - resolve_due_at
                 ELSE interval '-1 hour' END AS resolve_over,
            CASE WHEN :now < accepted_at THEN 'dispatched'
                 WHEN :now < resolved_at THEN 'accepted'
                 WHEN :now < closed_at THEN 'resolved' END AS status
        FROM (
            SELECT *,
                dispatched_at + make_interval(secs => accept_hours * 3600) AS accept_due_at,
                dispatched_at + make_interval(secs => resolve_hours * 3600) AS resolve_due_at,
                make_interval(secs => :lead * accept_hours * 3600) AS accept_lead,
                make_interval(secs => :lead * resolve_hours * 3600) AS resolve_lead,
                accepted_at + make_interval(secs => 3600 * resolve_delay) AS resolved_at,
                accepted_at + make_interval(secs => 3600 * (resolve_delay + rating_delay)) AS closed_at
            FROM (
                SELECT *, dispatched_at + make_interval(secs => 3600 * accept_delay) AS accepted_at
                FROM (
                    SELECT g AS i, c.id AS category_id, c.accept_hours, c.resolve_hours,
                        b.id AS building_id, gr.id AS grid_id, gr.community_id, gr.worker_id,
                        :now - make_interval(secs => 3600 * :hours * random()) AS dispatched_at,
                        CASE WHEN r_accept < 0.02 THEN 1e6  -- never accepted
                             WHEN r_accept < 0.90 THEN random() * 0.9 * c.accept_hours
                             ELSE c.accept_hours * (1 + 3 * random()) END AS accept_delay,
                        CASE WHEN r_resolve < 0.90 THEN (0.1 + 0.8 * random()) * c.resolve_hours
                             ELSE c.resolve_hours * (1 + 1.5 * random()) END AS resolve_delay,
                        -- 60 % rate within a day; the others are closed unrated after a week,
                        -- which the command did for everyone resolved before :prev - 7 days.
                        CASE WHEN r_rate < 0.6 THEN 24 * random()
                             ELSE :auto_close_hours + extract(epoch FROM :now - :prev) / 3600 END
                             AS rating_delay
                    FROM (
                        SELECT g, random() AS r_accept, random() AS r_resolve, random() AS r_rate,
                            1 + (g % :categories) AS category,
                            1 + ((g::bigint * 7919) % :buildings)::int AS building
                        FROM generate_series(1, :candidates) g
                    ) draws
                    JOIN categories c ON c.id = draws.category
                    JOIN buildings b ON b.id = draws.building
                    JOIN grids gr ON gr.id = b.grid_id
                ) delays
            ) accepted
        ) times
    ) statuses
    WHERE status IS NOT NULL
    LIMIT :n
) flagged
"""
# About 45 % of the arrivals are still open at :now in this model.
OPEN_SHARE = 0.45


def measure(url: str, tickets: int) -> list[str]:
    """Run the command twice at NOW on the filled database; one line per run."""
    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.tickets.deadline_sweep import run_deadlines

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
