"""A worker's queue over one million tickets vs an indexed 20-row list, PostgreSQL (issue 4).

    .venv/bin/python bench/bench_queue.py                 # 1,000,000 tickets
    .venv/bin/python bench/bench_queue.py --quick         # shorter load (still 1M tickets)
    BENCH_QUEUE_TICKETS=200000 .venv/bin/python bench/bench_queue.py --quick

The target: "listing a worker's queue on a database of one million tickets answers at p99
under 50 ms and at least 80% of the requests per second of an indexed 20-row list of one table
in the same run".

The database: the benchmark registry (bench/dataset.py: 15 communities, 105 grids, ~5,000
buildings, the matrix of 4 departments, its ~7,800 tickets), then one million tickets written
server-side by one INSERT ... SELECT over generate_series (indexes dropped for the load and
rebuilt after, as a restore would), then VACUUM ANALYZE. The tickets are spread over three
years, unevenly over the buildings (older blocks get more), over every category (a tenth are
wishes); those of the last two weeks are open a third of the time, the rest are closed (a few
rejected or merged): about 8,000 open tickets, plus the registry's 4,400, 50 to 500 per grid. Each is assigned as
routing would (the department's professional for its matrix categories, else the grid worker;
wishes wait in the community queue) and sits at the building's first unit.

Two servers under the same gunicorn arguments:

  bare   bench/bare_list_app.py: GET /bare/grids/<g>/tickets, SELECT ... FROM bare_tickets
         WHERE grid_id = :g ORDER BY created_at DESC LIMIT 20 over an index (grid_id,
         created_at); bare_tickets is a copy of the tickets (same rows), so that the bare
         index cannot help the product's own queries
  queue  the product (bench/scan_wsgi.py: create_app, APP_ENV=production):
         GET /api/v1/work/tickets (defaults: open tickets in the caller's scope, newest first,
         20 a page) as one of the 105 grid workers or 15 community staff, at random (a token
         each, minted with start_session)

wrk loads both with bench/get_auth.lua, in alternating rounds (ratio: median of the rounds'
ratios). Under that load (12 connections, closed loop) latency is mostly queueing: about
connections / rate. So the product is also measured with 2 connections ("light": about one
request's own time under two at once), and the 4 professionals alone (their scope is the
matrix: a category in each of the 105 grids). After the load, EXPLAIN ANALYZE of the queue's
query for one grid worker, one community staff member and one professional goes into the
report.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench import harness  # noqa: E402
from bench.bench_submit import StatusLoad, compare, mint_tokens, run_wrk, standalone, stop_and_check  # noqa: E402
from bench.harness import BENCH, Context, Row, log  # noqa: E402

TARGET_RATIO = 0.80
TARGET_P99_MS = 50.0
TICKETS = int(os.environ.get("BENCH_QUEUE_TICKETS", "1000000"))
LIGHT_CONNECTIONS = 2  # "light load": two people at once, one per worker
PLAN_LINES = 30

# One million tickets, as described in the module docstring. Categories 1-10 are reports
# (7-10 owned by departments 1-4: the matrix), 11-12 wishes (bench/dataset.py).
TICKETS_SQL = """
INSERT INTO tickets (
    id, number, kind, status, category_id, building_id, unit_id, grid_id, community_id,
    street_id, description, is_anonymous, is_rider_report, assignee_id, created_at, updated_at,
    dispatched_at, accepted_at, resolved_at, closed_at, accept_due_at, resolve_due_at, level,
    is_overdue, me_too_count, reopen_count, return_count, needs_review, photo_ids, version)
SELECT
    substr(md5('bq' || i::text), 1, 22), 'BQ-' || to_char(created_at, 'YYYYMMDD') || '-' || i,
    CASE WHEN category_id > 10 THEN 'wish' ELSE 'report' END,
    status, category_id, building_id, unit_id, grid_id, community_id, 1,
    (ARRAY['楼道灯坏了，晚上很黑，老人上下楼不安全，请尽快修理',
           '消防通道被电动车和杂物堵住了，万一着火消防车进不来',
           '垃圾桶已经满了两天没人清运，味道很大，夏天容易招蚊虫',
           '小区门口车辆乱停，早上上班高峰期出不去，希望能管一管',
           '楼上装修每天早上七点就开始打钻，严重影响休息',
           '电梯经常卡在三楼，门关不上，住户出行很不方便',
           '地下室水管漏水，积水越来越多，担心影响地基',
           '单元楼里经常跳闸，冰箱里的东西都坏了'])[1 + i % 8],
    category_id > 10, false,
    CASE WHEN category_id > 10 THEN NULL
         WHEN category_id BETWEEN 7 AND 10 THEN professional_id ELSE worker_id END,
    created_at, created_at + interval '1 hour',
    CASE WHEN category_id <= 10 THEN created_at END,
    CASE WHEN status IN ('accepted', 'resolved', 'closed') THEN created_at + interval '1 hour' END,
    CASE WHEN status IN ('resolved', 'closed') THEN created_at + interval '30 hours' END,
    CASE WHEN status IN ('closed', 'rejected', 'merged') THEN created_at + interval '3 days' END,
    CASE WHEN category_id <= 10 THEN created_at + interval '2 hours' END,
    CASE WHEN category_id <= 10 THEN created_at + interval '72 hours' END,
    'grid',
    status IN ('dispatched', 'accepted') AND created_at + interval '72 hours' < now(),
    (ARRAY[0, 0, 0, 0, 1, 2, 5])[1 + i % 7], 0, 0, false, '[]', 1
FROM (
    SELECT drawn.i, drawn.created_at, drawn.category_id, b.id AS building_id, u.unit_id, gr.id AS grid_id,
        gr.community_id, gr.worker_id, r.person_id AS professional_id,
        CASE
            WHEN drawn.category_id > 10 AND drawn.age < interval '14 days' AND drawn.r_status < 0.35 THEN 'pending'
            WHEN drawn.age < interval '14 days' AND drawn.r_status < 0.02 THEN 'pending'
            WHEN drawn.age < interval '14 days' AND drawn.r_status < 0.12 THEN 'dispatched'
            WHEN drawn.age < interval '14 days' AND drawn.r_status < 0.25 THEN 'accepted'
            WHEN drawn.age < interval '14 days' AND drawn.r_status < 0.35 THEN 'resolved'
            WHEN drawn.r_status > 0.97 THEN 'rejected'
            WHEN drawn.r_status > 0.95 THEN 'merged'
            ELSE 'closed' END AS status
    FROM (
        SELECT i, now() - age AS created_at, age, r_status,
            CASE WHEN r_kind < 0.1 THEN 11 + (i % 2) ELSE 1 + (i % 10) END AS category_id,
            -- older, larger blocks (low ids) get more tickets
            1 + floor(:buildings * power(r_building, 1.6))::int AS building
        FROM (
            SELECT i, random() AS r_status, random() AS r_kind, random() AS r_building,
                -- three years, a little more of it recent
                make_interval(secs => 3 * 365 * 86400 * power(random(), 1.15)) AS age
            FROM generate_series(1, :n) i
        ) draws
    ) drawn
    JOIN buildings b ON b.id = drawn.building
    JOIN grids gr ON gr.id = b.grid_id
    LEFT JOIN (SELECT building_id, min(id) AS unit_id FROM units GROUP BY building_id) u
        ON u.building_id = b.id
    LEFT JOIN responsibilities r ON r.grid_id = gr.id AND r.category_id = drawn.category_id
) t
"""

BARE_TABLE_SQL = [
    "DROP TABLE IF EXISTS bare_tickets",
    "CREATE TABLE bare_tickets AS SELECT id, number, status, category_id, building_id, grid_id, "
    "description, created_at, me_too_count FROM tickets",
    "ALTER TABLE bare_tickets ADD PRIMARY KEY (id)",
    "CREATE INDEX bare_ix_tickets_grid_created ON bare_tickets (grid_id, created_at)",
]


def build_tickets(url: str, tickets: int) -> dict:
    """Write `tickets` tickets into the registry at `url`, rebuild the indexes, copy the bare
    table, VACUUM ANALYZE. Returns figures for the report."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    figures = {}
    with engine.begin() as conn:
        run = lambda sql, **params: conn.execute(sa.text(sql), params)  # noqa: E731
        buildings = run("SELECT max(id) FROM buildings").scalar()
        run("SELECT setseed(0.20261124)")
        indexes = harness.drop_ticket_indexes(run)
        run("SET LOCAL maintenance_work_mem = '256MB'")
        started = time.perf_counter()
        run(TICKETS_SQL, n=tickets, buildings=buildings)
        figures["insert_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for definition in indexes:
            run(definition)
        figures["index_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for sql in BARE_TABLE_SQL:
            run(sql)
        figures["bare_copy_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        figures["vacuum_s"] = time.perf_counter() - started
        figures["tickets"] = conn.execute(sa.text("SELECT count(*) FROM tickets")).scalar()
        figures["open"] = conn.execute(sa.text(
            "SELECT count(*) FROM tickets WHERE status IN ('pending', 'dispatched', 'accepted', 'resolved')"
        )).scalar()
        per_grid = conn.execute(sa.text(
            "SELECT min(n), max(n) FROM (SELECT grid_id, count(*) n FROM tickets "
            "WHERE status IN ('pending', 'dispatched', 'accepted', 'resolved') GROUP BY grid_id) x"
        )).one()
        figures["open_per_grid"] = f"{per_grid[0]}-{per_grid[1]}"
    engine.dispose()
    return figures


def explain(ctx: Context, url: str, tokens_file: Path) -> list[str]:
    """EXPLAIN ANALYZE of the product's queue query (as work.py builds it) for one grid worker,
    one community staff member and one professional; in a child process (app imports)."""
    import subprocess

    out = subprocess.run(
        [ctx.python, str(Path(__file__)), "--explain", url, str(tokens_file)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(harness.ROOT), "INSTANCE_DIR": str(ctx.tmp / "instance"),
             "PERSONAL_DATA_KEY": harness.BENCH_PERSONAL_DATA_KEY},  # the actors' phones are sealed with it
    )
    if out.returncode != 0:
        return [f"(EXPLAIN failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode})"]
    return out.stdout.rstrip("\n").splitlines()


def _explain_child(url: str, tokens_file: str) -> None:
    from miniprogram_api.pagination import DEFAULT_LIMIT
    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.people.actors import load_actor
    from webapp.people.auth import hash_token
    from webapp.people.models import AuthSession
    from webapp.tickets.queue import queue_statement

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    wanted = {"grid_worker": None, "community_staff": None, "professional": None}
    for line in Path(tokens_file).read_text().splitlines():
        token, role, _code = line.split("\t")
        if role in wanted and wanted[role] is None:
            wanted[role] = token
    with app.app_context():
        for role, token in wanted.items():
            if token is None:
                continue
            person_id = db.session.scalar(sa.select(AuthSession.person_id).where(AuthSession.token_hash == hash_token(token)))
            actor = load_actor(person_id)
            # The statement miniprogram_api/work.py runs for the first page, values inlined.
            statement, params = queue_statement(actor, cursor=None, limit=DEFAULT_LIMIT)
            compiled = statement.params(params).compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = db.session.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}")).scalars().all()
            print(f"-- {role} ({len(actor.matrix)} matrix pairs)")
            for row in plan[:PLAN_LINES]:
                print(f"   {row[:160]}")
            if len(plan) > PLAN_LINES:
                print(f"   ... ({len(plan) - PLAN_LINES} more lines)")
        db.session.rollback()


def bench_queue_postgresql(ctx: Context) -> list[Row]:
    """GET /api/v1/work/tickets over 1M tickets vs an indexed 20-row list of one table."""
    url = harness.postgres_database(ctx, prefix="gridreport_bench_queue")
    codes = ctx.tmp / "queue-codes.txt"
    started = time.monotonic()
    harness.build_dataset(ctx, url, codes)
    figures = build_tickets(url, TICKETS)
    build_s = time.monotonic() - started
    log(
        f"{figures['tickets']} tickets ({figures['open']} open, {figures['open_per_grid']} per grid) in {build_s:.0f} s: "
        f"insert {figures['insert_s']:.0f} s, indexes {figures['index_s']:.0f} s, bare copy {figures['bare_copy_s']:.0f} s, "
        f"vacuum analyze {figures['vacuum_s']:.0f} s"
    )
    tokens_file = ctx.tmp / "queue-tokens.txt"
    mint_tokens(ctx, url, tokens_file, roles=("grid_worker", "community_staff", "professional"))
    product_lines, pro_lines = [], []
    for line in tokens_file.read_text().splitlines():
        token, role, _code = line.split("\t")
        if role in ("grid_worker", "community_staff"):
            product_lines.append(f"/api/v1/work/tickets\t{token}")
        elif role == "professional":
            pro_lines.append(f"/api/v1/work/tickets\t{token}")
    product_requests = ctx.tmp / "queue-requests.txt"
    product_requests.write_text("\n".join(product_lines) + "\n")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        grids = [row[0] for row in conn.execute(sa.text("SELECT id FROM grids ORDER BY id"))]
    engine.dispose()
    bare_requests = ctx.tmp / "bare-requests.txt"
    bare_requests.write_text("".join(f"/bare/grids/{g}/tickets\t\n" for g in grids))

    log("starting gunicorn: bare list, product")
    bare = harness.gunicorn(ctx, "bare-list", "bench.bare_list_app:app", {"DATABASE_URL": url}, ctx.gunicorn_args, "/bare/ready")
    product = harness.gunicorn(ctx, "queue", "bench.scan_wsgi:app", harness.app_env(ctx, url), ctx.gunicorn_args, "/")
    script = BENCH / "get_auth.lua"

    def side(server: harness.Server, requests: Path) -> Callable[[float], StatusLoad]:
        return lambda seconds: run_wrk(ctx, server.base, script, [str(requests)], seconds)

    outcome = compare(
        ctx,
        {"bare": side(bare, bare_requests), "queue": side(product, product_requests)},
        servers={"bare": bare, "queue": product},
    )
    # Under the full load every request queues behind the others (latency = connections / rate);
    # with two connections the latency is about one request's own time.
    light = run_wrk(ctx, product.base, script, [str(product_requests)], max(2.0, ctx.duration / ctx.rounds), LIGHT_CONNECTIONS)
    log(f"queue, {LIGHT_CONNECTIONS} connections: {light.rps:.0f} req/s, p50 {light.p50_ms:.1f} ms, p99 {light.p99_ms:.1f} ms")
    pro = None
    if pro_lines:  # the widest scope a grid-level person has: 105 matrix pairs
        pro_requests = ctx.tmp / "queue-pro-requests.txt"
        pro_requests.write_text("\n".join(pro_lines) + "\n")
        run_wrk(ctx, product.base, script, [str(pro_requests)], ctx.warmup)  # their statements are new
        pro = run_wrk(ctx, product.base, script, [str(pro_requests)], max(2.0, ctx.duration / ctx.rounds))
        log(f"professionals: {pro.rps:.0f} req/s, p99 {pro.p99_ms:.1f} ms")
    stop_and_check(ctx, bare, product)

    g = "queue/postgresql"
    for line in explain(ctx, url, tokens_file):
        ctx.say(f"{g} plan | {line}")
    b, q = outcome.comparison.merged["bare"], outcome.comparison.merged["queue"]
    ratio = outcome.comparison.ratio("queue", "bare")
    for label in ("bare", "queue"):
        if outcome.non_2xx(label) or outcome.comparison.merged[label].errors:
            ctx.note(
                f"{g} {label}: non-2xx {dict(sorted((k, v) for k, v in outcome.statuses[label].items() if not 200 <= k < 300))}, "
                f"{outcome.comparison.merged[label].errors} socket errors/timeouts"
            )
    ctx.say(
        f"{g}: {figures['tickets']} tickets, {figures['open']} open ({figures['open_per_grid']} per grid), "
        f"built in {build_s:.0f} s; queue is {ratio:.0%} of bare req/s ({'meets' if ratio >= TARGET_RATIO else 'below'} "
        f"the {TARGET_RATIO:.0%} target), p99 {q.p99_ms:.1f} ms ({'meets' if q.p99_ms < TARGET_P99_MS else 'above'} "
        f"the {TARGET_P99_MS:.0f} ms target)"
    )
    (bare_app, bare_db), (queue_app, queue_db) = outcome.cpu_ms("bare"), outcome.cpu_ms("queue")
    ctx.say(
        f"{g}: CPU per request (server + PostgreSQL): bare {bare_app:.2f} + {bare_db:.2f} ms, "
        f"queue {queue_app:.2f} + {queue_db:.2f} ms; by CPU alone the queue would be "
        f"{outcome.cpu_ratio('queue', 'bare'):.0%} of bare"
    )
    rows = [
        (f"{g}/tickets", str(figures["tickets"]), ""),
        (f"{g}/open", str(figures["open"]), ""),
        (f"{g}/build_s", build_s, "s"),
        (f"{g}/bare_rps", b.rps, "req/s"),
        (f"{g}/queue_rps", q.rps, "req/s"),
        (f"{g}/ratio", ratio, ""),
        (f"{g}/bare_cpu_ms", sum(outcome.cpu_ms("bare")), "ms"),
        (f"{g}/queue_cpu_ms", sum(outcome.cpu_ms("queue")), "ms"),
        (f"{g}/cpu_ratio", outcome.cpu_ratio("queue", "bare"), ""),
        (f"{g}/queue_p50_ms", q.p50_ms, "ms"),
        (f"{g}/queue_p99_ms", q.p99_ms, "ms"),
        (f"{g}/bare_p50_ms", b.p50_ms, "ms"),
        (f"{g}/bare_p99_ms", b.p99_ms, "ms"),
        (f"{g}/light_rps", light.rps, "req/s"),
        (f"{g}/light_p50_ms", light.p50_ms, "ms"),
        (f"{g}/light_p99_ms", light.p99_ms, "ms"),
        (f"{g}/queue_non2xx", str(outcome.non_2xx("queue") + light.non_2xx), ""),
        (f"{g}/queue_errors", str(q.errors), ""),
        (f"{g}/bare_non2xx", str(outcome.non_2xx("bare")), ""),
        (f"{g}/queue_bytes", q.bytes / q.requests if q.requests else 0, "B"),
        (f"{g}/bare_bytes", b.bytes / b.requests if b.requests else 0, "B"),
    ]
    if pro is not None:
        rows += [
            (f"{g}/pro_rps", pro.rps, "req/s"),
            (f"{g}/pro_p99_ms", pro.p99_ms, "ms"),
            (f"{g}/pro_non2xx", str(pro.non_2xx), ""),
        ]
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--explain":
        _explain_child(sys.argv[2], sys.argv[3])
        raise SystemExit(0)
    raise SystemExit(standalone("queue-postgresql"))
