"""Ticket submission vs a bare one-row insert, PostgreSQL with durable commits (issue 3).

    .venv/bin/python bench/bench_submit.py            # full: 2 s warm-up, 5 rounds over 10 s per side
    .venv/bin/python bench/bench_submit.py --quick

The target: "submitting a ticket (with routing, its event and its idempotency record, no
photo) sustains at least 80% of the requests per second of a bare one-row insert endpoint under
the same gunicorn configuration, in the same run, on PostgreSQL with durable commits".

A scratch database gets the benchmark registry (bench/dataset.py: 105 grids, ~5,000 buildings,
the matrix, a few thousand tickets) and 2,000 residents, each with a live session (minted with
webapp.people.auth.start_session, in a child process). Two servers under the same gunicorn
arguments, three sides:

  bare    bench/bare_insert_app.py: POST /bare/tickets inserts one row and commits
  floor   the same server: POST /floor/tickets writes the rows a submission must write (ticket,
          first event, idempotency record, outbox message) into the product's tables, by one
          statement and one durable commit, and nothing else: what the schema costs
  submit  the product (bench/scan_wsgi.py: create_app, APP_ENV=production): POST /api/v1/tickets

Besides requests per second, each round counts the CPU time its side cost (the server's
process group and every PostgreSQL process: harness.cpu_snapshot), so that the cost of a
request can be compared even when other jobs take the machine's cores. `submit_to_floor_cpu`
is issue 14's figure: the floor's CPU per request over the submission's (target >= 0.5);
`submit_to_floor` is the same ratio by requests per second. The PostgreSQL share counts every
postgres process of the machine, so other jobs' queries on the same server inflate it.

wrk (bench/submit.lua) sends every side the same requests: a report at a random building's code
(one of ~5,000) in a random category, as a random resident (bearer token), with an
Idempotency-Key never used before. Every product request should therefore answer 201 and
create one ticket, one event, one idempotency record and one outbox message (the notice to
the assignee); the benchmark counts them afterwards and reports any non-2xx answer.

Also holds what bench_queue.py shares: run_wrk (a wrk script with status counts), compare
(sides in alternating rounds, as harness.compare), mint_tokens, standalone.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import BENCH, ROOT, Context, Load, Row, log  # noqa: E402

TARGET = 0.80
FLOOR_CPU_TARGET = 0.5  # issue 14: submit at least half the floor by CPU per request
RESIDENTS = 2000


# ---------------------------------------------------------------------------------------------
# Shared with bench_queue.py: wrk with any script, rounds, tokens


# A wrk run with the count of each HTTP status (harness.Load carries them).
StatusLoad = Load
run_wrk = harness.run_wrk


@dataclass
class Outcome:
    comparison: harness.Comparison
    statuses: dict[str, dict[int, int]]  # per side, over the warm-up and every round
    runs: dict[str, int]  # wrk runs per side (warm-up included)
    # Per side, over the rounds: CPU seconds of its server and of PostgreSQL, and requests.
    cpu: dict[str, tuple[float, float, int]] = field(default_factory=dict)

    def non_2xx(self, side: str) -> int:
        return sum(n for s, n in self.statuses[side].items() if not 200 <= s < 300)

    def cpu_ms(self, side: str) -> tuple[float, float]:
        """(server, database) CPU milliseconds per request of a side."""
        server, database, requests = self.cpu.get(side, (0.0, 0.0, 0))
        return (1000 * server / requests, 1000 * database / requests) if requests else (0.0, 0.0)

    def cpu_ratio(self, side: str, base: str) -> float:
        """base's CPU per request (server + database) over side's: what the throughput ratio
        would be if CPU were the only limit, whatever else the machine is running."""
        mine, theirs = sum(self.cpu_ms(side)), sum(self.cpu_ms(base))
        return theirs / mine if mine else 0.0


def compare(
    ctx: Context,
    sides: dict[str, Callable[[float], StatusLoad]],
    servers: dict[str, harness.Server] | None = None,
) -> Outcome:
    """harness.compare for sides given as "run wrk for this many seconds": a warm-up each, then
    ctx.rounds rounds in which the sides take turns (reversed every other round). With the
    side's server, the CPU its rounds cost (harness.cpu_snapshot) is counted too."""
    statuses: dict[str, dict[int, int]] = {label: {} for label in sides}
    runs = {label: 0 for label in sides}
    cpu = {label: (0.0, 0.0, 0) for label in sides}
    servers = servers or {}

    def tally(label: str, load: StatusLoad) -> StatusLoad:
        runs[label] += 1
        for status, n in load.statuses.items():
            statuses[label][status] = statuses[label].get(status, 0) + n
        return load

    for label, go in sides.items():
        log(f"warm-up {label} {ctx.warmup:.0f} s")
        tally(label, go(ctx.warmup))
    per_round = ctx.duration / ctx.rounds
    rounds: dict[str, list[Load]] = {label: [] for label in sides}
    order = list(sides)
    for r in range(ctx.rounds):
        for label in order if r % 2 == 0 else reversed(order):
            before = harness.cpu_snapshot(servers.get(label))
            load = tally(label, sides[label](per_round))
            used = harness.cpu_since(before, servers.get(label))
            app, db, requests = cpu[label]
            cpu[label] = (app + used.server, db + used.database, requests + load.requests)
            log(
                f"round {r + 1}/{ctx.rounds} {label}: {load.rps:.0f} req/s, p99 {load.p99_ms:.1f} ms"
                + (f", CPU/request: server {1000 * used.server / load.requests:.2f} ms, "
                   f"database {1000 * used.database / load.requests:.2f} ms"
                   if label in servers and load.requests else "")
                + (f", {load.non_2xx} non-2xx" if load.non_2xx else "")
                + (f", {load.errors} socket errors" if load.errors else "")
            )
            rounds[label].append(load)
    merged = {label: harness.merge(loads) for label, loads in rounds.items()}
    return Outcome(harness.Comparison(merged, rounds), statuses, runs, cpu)


def mint_tokens(ctx: Context, url: str, out: Path, *, residents: int = 0, roles: tuple[str, ...] = ()) -> int:
    """Live bearer tokens written to `out`, one a line: "token<TAB>role<TAB>person code".

    `residents` new residents (openid bench-resident-<n>), each with a session; and a session
    for every person holding one of `roles` (staff assignments). Minted by the product's own
    start_session in a child process (app context on `url`). Returns the number of tokens.
    """
    started = time.monotonic()
    cmd = [ctx.python, str(Path(__file__)), "--mint", url, str(out), str(residents), ",".join(roles)]
    result = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "INSTANCE_DIR": str(ctx.tmp / "instance")},
    )
    if result.returncode != 0:
        raise RuntimeError(f"minting tokens failed:\n{result.stdout}\n{result.stderr}")
    count = sum(1 for line in out.read_text().splitlines() if line)
    log(f"{count} tokens minted in {time.monotonic() - started:.1f} s")
    return count


def _mint_child(url: str, out: str, residents: int, roles: list[str]) -> None:
    import sqlalchemy as sa

    from webapp import create_app
    from webapp.columns import new_id, utcnow
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.people.auth import start_session
    from webapp.people.models import Person, Role, StaffAssignment

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    lines = []
    with app.app_context():
        now = utcnow()
        people = [
            {"id": new_id(), "code": None, "name": f"居民{n}", "phone": None,
             "openid": f"bench-resident-{n}", "is_away": False, "created_at": now}
            for n in range(1, residents + 1)
        ]
        if people:
            db.session.execute(sa.insert(Person), people)
        for person in people:
            token, _ttl = start_session(person["id"])
            lines.append(f"{token}\tresident\t{person['openid']}")
        if roles:
            staff = db.session.execute(
                sa.select(StaffAssignment.person_id, StaffAssignment.role, Person.code)
                .join(Person, Person.id == StaffAssignment.person_id)
                .where(StaffAssignment.role.in_([Role(r) for r in roles]))
                .order_by(StaffAssignment.id)
            ).all()
            seen = set()
            for person_id, role, code in staff:
                if person_id in seen:
                    continue
                seen.add(person_id)
                token, _ttl = start_session(person_id)
                lines.append(f"{token}\t{role.value}\t{code or person_id}")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    Path(out).write_text("\n".join(lines) + "\n")


def pg_setting(url: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SHOW {name}")).scalar()
    finally:
        engine.dispose()


def counts(url: str, queries: dict[str, str]) -> dict[str, int]:
    """Each named `SELECT count(*) ...` of `queries`, run on `url`."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {name: conn.execute(sa.text(sql)).scalar() for name, sql in queries.items()}
    finally:
        engine.dispose()


def stop_and_check(ctx: Context, *servers: harness.Server) -> None:
    for server in servers:
        server.stop()
        tail = server.log_tail(8)
        if "Traceback" in tail or "ERROR" in tail:
            ctx.note(f"{server.name} log ends with:\n{tail}")


# ---------------------------------------------------------------------------------------------
# The benchmark

# Rows made by each side; the floor's tickets (FLOOR_PREFIX numbers) apart from the product's.
_PRODUCT_TICKET = "JOIN tickets t ON t.id = x.ticket_id WHERE t.number NOT LIKE 'FLOOR-%'"
COUNTED = {
    "tickets": "SELECT count(*) FROM tickets WHERE number NOT LIKE 'FLOOR-%'",
    "ticket_events": f"SELECT count(*) FROM ticket_events x {_PRODUCT_TICKET}",
    "idempotency_records": f"SELECT count(*) FROM idempotency_records x {_PRODUCT_TICKET}",
    "outbox_messages": f"SELECT count(*) FROM outbox_messages x {_PRODUCT_TICKET}",
    "floor_tickets": "SELECT count(*) FROM tickets WHERE number LIKE 'FLOOR-%'",
    "bare_tickets": "SELECT count(*) FROM bare_tickets",
}


def bench_submit_postgresql(ctx: Context) -> list[Row]:
    """POST /api/v1/tickets (routing, event, idempotency record, outbox; no photo) vs a bare
    one-row insert, PostgreSQL, synchronous_commit as the server has it (on by default)."""
    import sqlalchemy as sa

    from bench.bare_insert_app import CREATE_SQL, FLOOR_PREFIX, FLOOR_SETUP_SQL

    assert FLOOR_PREFIX == "FLOOR-", "COUNTED tells the floor's tickets apart by this prefix"

    url = harness.postgres_database(ctx, prefix="gridreport_bench_submit")
    codes = ctx.tmp / "submit-codes.txt"
    harness.build_dataset(ctx, url, codes)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(CREATE_SQL))
        for sql in FLOOR_SETUP_SQL:
            conn.execute(sa.text(sql))
    engine.dispose()
    tokens_file = ctx.tmp / "submit-tokens.txt"
    mint_tokens(ctx, url, tokens_file, residents=RESIDENTS)
    tokens_only = ctx.tmp / "submit-tokens-only.txt"
    tokens_only.write_text("".join(line.split("\t", 1)[0] + "\n" for line in tokens_file.read_text().splitlines() if line))

    sync = pg_setting(url, "synchronous_commit")
    fsync = pg_setting(url, "fsync")
    ctx.say(f"submit/postgresql  synchronous_commit={sync}  fsync={fsync}  (durable commits: {sync == 'on' and fsync == 'on'})")
    if sync != "on" or fsync != "on":
        ctx.note("submit/postgresql: commits are NOT durable on this server; the target asks for durable commits")

    log("starting gunicorn: bare insert, product")
    bare = harness.gunicorn(ctx, "bare-insert", "bench.bare_insert_app:app", {"DATABASE_URL": url}, ctx.gunicorn_args, "/bare/ready")
    product = harness.gunicorn(ctx, "submit", "bench.scan_wsgi:app", harness.app_env(ctx, url), ctx.gunicorn_args, "/")
    before = counts(url, COUNTED)
    script = BENCH / "submit.lua"

    def side(server: harness.Server, path: str) -> Callable[[float], StatusLoad]:
        def go(seconds: float) -> StatusLoad:
            run_id = uuid.uuid4().hex[:8]  # a fresh key space per wrk run
            return run_wrk(ctx, server.base, script, [str(tokens_only), str(codes), path, run_id], seconds)
        return go

    outcome = compare(
        ctx,
        {
            "bare": side(bare, "/bare/tickets"),
            "floor": side(bare, "/floor/tickets"),
            "submit": side(product, "/api/v1/tickets"),
        },
        servers={"bare": bare, "floor": bare, "submit": product},
    )
    stop_and_check(ctx, bare, product)
    after = counts(url, COUNTED)
    made = {t: after[t] - before[t] for t in COUNTED}

    g = "submit/postgresql"
    b, s = outcome.comparison.merged["bare"], outcome.comparison.merged["submit"]
    f = outcome.comparison.merged["floor"]
    created_201 = outcome.statuses["submit"].get(201, 0)
    replays_200 = outcome.statuses["submit"].get(200, 0)
    # wrk drops the answers still in flight when a run ends (at most one per connection): those
    # tickets exist but were never counted as 201.
    in_flight = made["tickets"] - created_201
    limit = ctx.connections * outcome.runs["submit"]
    consistent = (
        0 <= in_flight <= limit
        and made["ticket_events"] == made["tickets"]
        and made["idempotency_records"] == made["tickets"]
        and replays_200 == 0
    )
    for label in ("bare", "floor", "submit"):
        if outcome.non_2xx(label) or outcome.comparison.merged[label].errors:
            ctx.note(
                f"{g} {label}: non-2xx {dict(sorted((k, v) for k, v in outcome.statuses[label].items() if not 200 <= k < 300))}, "
                f"{outcome.comparison.merged[label].errors} socket errors/timeouts"
            )
    ctx.say(
        f"{g}  counted: {created_201} answers 201, {replays_200} answers 200 (replays), "
        f"{outcome.non_2xx('submit')} non-2xx; rows made: tickets {made['tickets']}, events {made['ticket_events']}, "
        f"idempotency {made['idempotency_records']}, outbox {made['outbox_messages']}; "
        f"{in_flight} tickets made whose 201 was still in flight when a wrk run stopped "
        f"(<= {limit} expected): {'consistent' if consistent else 'MISMATCH'}"
    )
    if not consistent:
        ctx.note(f"{g}: rows made do not match the 201 answers: {made}, 201s {created_201}")
    ratio = outcome.comparison.ratio("submit", "bare")
    floor_ratio = outcome.comparison.ratio("floor", "bare")
    to_floor = outcome.comparison.ratio("submit", "floor")
    ctx.say(f"{g}: submit is {ratio:.0%} of bare req/s, {'meets' if ratio >= TARGET else 'below'} the {TARGET:.0%} target")
    ctx.say(
        f"{g}: the floor (the same four rows in one statement, one commit, nothing else) is "
        f"{floor_ratio:.0%} of bare req/s; submit is {to_floor:.0%} of the floor's req/s"
    )
    cpu_line = ", ".join(
        f"{label} {outcome.cpu_ms(label)[0]:.2f} + {outcome.cpu_ms(label)[1]:.2f} ms"
        for label in ("bare", "floor", "submit")
    )
    ctx.say(
        f"{g}: CPU per request (server + PostgreSQL): {cpu_line}; by CPU alone submit would be "
        f"{outcome.cpu_ratio('submit', 'bare'):.0%} of bare"
    )
    to_floor_cpu = outcome.cpu_ratio("submit", "floor")
    ctx.say(
        f"{g}: by CPU per request submit is {to_floor_cpu:.2f} of the floor (floor "
        f"{sum(outcome.cpu_ms('floor')):.2f} ms / submit {sum(outcome.cpu_ms('submit')):.2f} ms, "
        f"server + PostgreSQL), {'meets' if to_floor_cpu >= FLOOR_CPU_TARGET else 'below'} the "
        f"{FLOOR_CPU_TARGET} target (issue 14)"
    )
    return [
        (f"{g}/synchronous_commit", sync, ""),
        (f"{g}/bare_rps", b.rps, "req/s"),
        (f"{g}/submit_rps", s.rps, "req/s"),
        (f"{g}/ratio", ratio, ""),
        (f"{g}/floor_rps", f.rps, "req/s"),
        (f"{g}/floor_ratio", floor_ratio, ""),
        (f"{g}/submit_to_floor", to_floor, ""),
        (f"{g}/submit_to_floor_cpu", to_floor_cpu, ""),
        (f"{g}/bare_cpu_ms", sum(outcome.cpu_ms("bare")), "ms"),
        (f"{g}/floor_cpu_ms", sum(outcome.cpu_ms("floor")), "ms"),
        (f"{g}/submit_cpu_ms", sum(outcome.cpu_ms("submit")), "ms"),
        (f"{g}/cpu_ratio", outcome.cpu_ratio("submit", "bare"), ""),
        (f"{g}/submit_p50_ms", s.p50_ms, "ms"),
        (f"{g}/submit_p99_ms", s.p99_ms, "ms"),
        (f"{g}/bare_p50_ms", b.p50_ms, "ms"),
        (f"{g}/bare_p99_ms", b.p99_ms, "ms"),
        (f"{g}/created_201", str(created_201), ""),
        (f"{g}/tickets_made", str(made["tickets"]), ""),
        (f"{g}/submit_non2xx", str(outcome.non_2xx("submit")), ""),
        (f"{g}/submit_errors", str(s.errors), ""),
        (f"{g}/bare_non2xx", str(outcome.non_2xx("bare")), ""),
        (f"{g}/bare_rows", str(made["bare_tickets"]), ""),
        (f"{g}/floor_rows", str(made["floor_tickets"]), ""),
    ]


# ---------------------------------------------------------------------------------------------
# Standalone


def standalone(name: str) -> int:
    """Run one registered benchmark as `bench/run.py --only NAME` would, with the same options."""
    from bench import run

    return run.main(["--only", name, *sys.argv[1:]])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--mint":
        _url, _out, _residents, _roles = sys.argv[2:6]
        _mint_child(_url, _out, int(_residents), [r for r in _roles.split(",") if r])
        raise SystemExit(0)
    raise SystemExit(standalone("submit-postgresql"))
