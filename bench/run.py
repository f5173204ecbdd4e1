"""Throughput and latency figures, as ratios to bare baselines measured in the same run.

    make bench                          # everything, full durations
    make bench ARGS="--quick"           # short runs, small sign batch
    make bench ARGS="--only scan"       # benchmarks whose name starts with "scan"
    .venv/bin/python bench/run.py --list

This prints figures; it never asserts timings (the exit status is non-zero only when a
benchmark could not run at all). A benchmark is a function of the run context returning rows
of (name, value, unit) with names "group/key"; each group prints as one line, e.g.

    scan/sqlite  bare_rps=4210  scan_rps=3390  ratio=0.81  scan_p99_ms=6.1

To add one, write `def bench_x(ctx) -> list[Row]` (bench/harness.py has the servers, wrk,
scratch databases and cleanup) and append it to BENCHMARKS.

HTTP benchmarks serve the real app and its bare baseline under the same gunicorn settings,
GUNICORN_ARGS below, and load them with wrk (1 thread, --connections, default 12) on loopback:

  --config webapp/gunicorn.conf.py    (production's file: one worker per core, gthread with 4
                                      threads, reuse_port, keepalive 5, preload)

reuse_port gives each worker a listening socket of its own, so the kernel spreads wrk's
keep-alive connections over every worker; with one shared socket a gthread worker accepted
whatever it could and one worker served up to 84% of a run's requests (docs/performance.md,
"Spreading load over gunicorn's workers"; --worker-counts prints the spread). The settings
before it: `--gunicorn "--workers 2 --worker-class gthread --threads 4 --preload"`.

gthread rather than sync because the product makes slow outbound calls inside requests
(WeChat's content check on submission, token fetches, up to WECHAT_TIMEOUT_SECONDS each): a
sync worker is blocked for the whole call, a gthread worker keeps serving on its other threads,
and it also keeps client connections alive. Two workers for the two cores; four threads stay
within the production pool (pool_size 5 + max_overflow 5 per process). --preload lets the
scan's warm server fill its cache before forking; the bare server gets it too, for parity.
Measured here, sync -w 2 gives about the same scan figures with the cache warm, and a better
p99 when every scan runs several queries (threads of one process queue for the GIL after each
query); `--gunicorn "--workers 2 --worker-class sync --preload"` shows it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import BENCH, ROOT, Context, Row, Skip, log  # noqa: E402
from bench.bench_deadlines import bench_deadlines_postgresql  # noqa: E402
from bench.bench_exports import bench_exports_postgresql  # noqa: E402
from bench.bench_figures import bench_figures_postgresql  # noqa: E402
from bench.bench_queue import bench_queue_postgresql  # noqa: E402
from bench.bench_submit import bench_submit_postgresql  # noqa: E402
from bench.bench_uploads import bench_uploads  # noqa: E402

GUNICORN_ARGS = ["--config", "webapp/gunicorn.conf.py"]  # relative to the project: gunicorn runs there
SCAN_TARGET = 0.60  # the target: scan at least 60% of bare requests/s, on both databases


# ---------------------------------------------------------------------------------------------
# Benchmarks


def _scan(ctx: Context, kind: str) -> list[Row]:
    """GET /api/v1/scan/<code> over every building's code vs the bare JSON endpoint.

    Three servers, same gunicorn settings: bare (bench/bare_app.py: /bare/ with no I/O, and
    /bare-db/ after one indexed read through the app's engine options); scan with every
    building's static part cached (prefilled before the fork, SCAN_CACHE_SECONDS=3600: the
    steady state the cache is for); scan with the cache off (SCAN_CACHE_SECONDS=0: every
    request reads the building, its contacts and categories too: a building nobody scanned in
    the last 30 s). Real traffic falls between the two.
    """
    url = harness.sqlite_database(ctx) if kind == "sqlite" else harness.postgres_database(ctx)
    codes = ctx.tmp / f"codes-{kind}.txt"
    harness.build_dataset(ctx, url, codes)
    first = codes.read_text().split("\n", 1)[0]
    log("starting gunicorn: bare (+ bare-db), scan (cache prefilled), scan (no cache)")
    bare = harness.gunicorn(
        ctx, f"bare-{kind}", "bench.bare_app:app",
        {"BENCH_DATABASE_URL": url, "BENCH_ENGINE_OPTIONS": json.dumps(_engine_options(ctx))},
        ctx.gunicorn_args, f"/bare-db/{first}",
    )
    warm = harness.gunicorn(
        ctx, f"scan-{kind}", "bench.scan_wsgi:app",
        harness.app_env(ctx, url, SCAN_CACHE_SECONDS="3600", BENCH_PREFILL_CODES=str(codes)),
        ctx.gunicorn_args, f"/api/v1/scan/{first}", ready_timeout=600,
    )
    cold = harness.gunicorn(
        ctx, f"scan-nocache-{kind}", "bench.scan_wsgi:app",
        harness.app_env(ctx, url, SCAN_CACHE_SECONDS="0"),
        ctx.gunicorn_args, f"/api/v1/scan/{first}",
    )
    comparison = harness.compare(
        ctx,
        {
            "bare": (bare, "/bare/"),
            "bare_db": (bare, "/bare-db/"),
            "scan": (warm, "/api/v1/scan/"),
            "nocache": (cold, "/api/v1/scan/"),
        },
        codes,
    )
    loads = comparison.merged
    for label, load in loads.items():
        if load.errors or load.bad_status:
            ctx.note(f"scan/{kind} {label}: {load.bad_status} non-2xx responses, {load.errors} socket errors/timeouts")
    for server in (bare, warm, cold):
        server.stop()
        tail = server.log_tail(5)
        if "Traceback" in tail or "ERROR" in tail:
            ctx.note(f"{server.name} log ends with:\n{tail}")
    b, d, s, c = loads["bare"], loads["bare_db"], loads["scan"], loads["nocache"]
    g = f"scan/{kind}"
    return [
        (f"{g}/bare_rps", b.rps, "req/s"),
        (f"{g}/scan_rps", s.rps, "req/s"),
        (f"{g}/ratio", comparison.ratio("scan", "bare"), ""),
        (f"{g}/scan_p50_ms", s.p50_ms, "ms"),
        (f"{g}/scan_p99_ms", s.p99_ms, "ms"),
        (f"{g}/bare_db_rps", d.rps, "req/s"),
        (f"{g}/bare_db_ratio", comparison.ratio("bare_db", "bare"), ""),
        (f"{g}/scan_to_bare_db", comparison.ratio("scan", "bare_db"), ""),
        (f"{g}/nocache_rps", c.rps, "req/s"),
        (f"{g}/nocache_ratio", comparison.ratio("nocache", "bare"), ""),
        (f"{g}/nocache_p99_ms", c.p99_ms, "ms"),
        (f"{g}/bare_p50_ms", b.p50_ms, "ms"),
        (f"{g}/bare_p99_ms", b.p99_ms, "ms"),
        (f"{g}/bare_bytes", b.bytes / b.requests if b.requests else 0, "B"),
        (f"{g}/scan_bytes", s.bytes / s.requests if s.requests else 0, "B"),
    ]


def _engine_options(ctx: Context) -> dict:
    """The production engine options, with --engine-options on top."""
    from webapp.config import ProductionConfig

    return {**ProductionConfig.SQLALCHEMY_ENGINE_OPTIONS, **json.loads(ctx.app_env.get("BENCH_ENGINE_OPTIONS", "{}"))}


def bench_scan_sqlite(ctx: Context) -> list[Row]:
    return _scan(ctx, "sqlite")


def bench_scan_postgresql(ctx: Context) -> list[Row]:
    return _scan(ctx, "postgresql")


def bench_signs(ctx: Context) -> list[Row]:
    """bench/bench_signs.py (sign PDFs), run as it is; its own lines go into the report."""
    script = BENCH / "bench_signs.py"
    if not script.exists():
        raise Skip("bench/bench_signs.py is not there yet")
    count = ctx.signs_count or (500 if ctx.quick else 10_000)
    started = time.monotonic()
    out = subprocess.run(
        [ctx.python, str(script), str(count)], capture_output=True, text=True, cwd=ROOT,
        timeout=3600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench_signs.py exited with {out.returncode}:\n{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.strip():
            ctx.say(f"signs  | {line}")
    return [("signs/count", count, "signs"), ("signs/wall_s", time.monotonic() - started, "s")]


@dataclass
class Benchmark:
    name: str
    run: Callable[[Context], list[Row]]
    about: str


BENCHMARKS = [
    Benchmark("scan-sqlite", bench_scan_sqlite, "GET /api/v1/scan/<code> vs bare JSON, SQLite, gunicorn + wrk"),
    Benchmark("scan-postgresql", bench_scan_postgresql, "GET /api/v1/scan/<code> vs bare JSON, PostgreSQL, gunicorn + wrk"),
    Benchmark("signs", bench_signs, "sign PDFs (bench/bench_signs.py; N=10000, 500 with --quick)"),
    Benchmark("submit-postgresql", bench_submit_postgresql, "POST /api/v1/tickets vs a bare one-row insert, PostgreSQL, durable commits"),
    Benchmark("queue-postgresql", bench_queue_postgresql, "GET /api/v1/work/tickets over 1M tickets vs an indexed 20-row list, PostgreSQL"),
    Benchmark("deadlines-postgresql", bench_deadlines_postgresql, "flask deadlines run over 1M open tickets, PostgreSQL"),
    Benchmark("figures-postgresql", bench_figures_postgresql, "GET /api/v1/work/stats of a street with 500k tickets in the period, PostgreSQL"),
    Benchmark("exports-postgresql", bench_exports_postgresql, "/console/export.csv|xlsx of 100k and 1M tickets: rows/s and the exporting process's peak RSS, PostgreSQL"),
    Benchmark("uploads", bench_uploads, "gunicorn workers' RSS before, during and after 16 uploads of a 40 MP PNG, 8 at a time, with the photo bounds off and on"),
]


# ---------------------------------------------------------------------------------------------
# Output


def fmt(value, unit: str) -> str:
    if isinstance(value, str):
        return value
    if unit in ("req/s", "B", "signs", "n"):
        return f"{value:.0f}"
    if unit == "":
        return f"{value:.2f}"
    return f"{value:.1f}"


def group_lines(rows: list[Row]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for name, value, unit in rows:
        group, _, key = name.rpartition("/")
        groups.setdefault(group, []).append(f"{key}={fmt(value, unit)}")
    width = max((len(g) for g in groups), default=0)
    return [f"{g:<{width}}  " + "  ".join(parts) for g, parts in groups.items()]


def selected(patterns: list[str]) -> list[Benchmark]:
    if not patterns:
        return list(BENCHMARKS)
    chosen = [b for b in BENCHMARKS if any(b.name == p or b.name.startswith(p) for p in patterns)]
    if not chosen:
        raise SystemExit(f"--only {','.join(patterns)} matches none of: {', '.join(b.name for b in BENCHMARKS)}")
    return chosen


def _terminate(signum, frame):
    """First Ctrl-C/SIGTERM/SIGHUP: unwind (servers and databases are cleaned up on the way
    out); later ones are ignored so that the cleanup itself is not cut short."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="benchmark name or prefix (repeatable, or comma-separated)")
    parser.add_argument("--quick", action="store_true", help="short runs (1 s warm-up, 3 s per side) and 500 signs")
    parser.add_argument("--duration", type=float, help="measured seconds per side (default 10, quick 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per server (default 2, quick 1)")
    parser.add_argument("--rounds", type=int, help="sides take turns this many times (default 5, quick 3); each round lasts duration/rounds (at least 1 s)")
    parser.add_argument("--connections", type=int, default=12, help="wrk connections (default 12)")
    parser.add_argument("--gunicorn", default=shlex.join(GUNICORN_ARGS), help="gunicorn worker options for every server")
    parser.add_argument("--engine-options", help='JSON merged into the app\'s SQLALCHEMY_ENGINE_OPTIONS, e.g. \'{"pool_pre_ping": false}\'')
    parser.add_argument("--signs-count", type=int, help="signs for bench_signs.py (default 10000, quick 500)")
    parser.add_argument("--worker-counts", action="store_true", help="log each request's worker pid (gunicorn access log) and print how every server's requests spread over its workers")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:<18} {b.about}")
        return 0
    patterns = [p.strip() for item in args.only for p in item.split(",") if p.strip()]
    benchmarks = selected(patterns)

    sys.stdout.reconfigure(line_buffering=True)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    cpus = os.cpu_count() or 1
    load_start = os.getloadavg()
    rows: list[Row] = []
    said: list[str] = []
    failures: list[str] = []
    skipped: list[str] = []
    notes: list[str] = []
    print(
        f"gridreport bench  cpus={cpus}  load={load_start[0]:.2f}  gunicorn: {args.gunicorn}  "
        f"wrk: 1 thread, {args.connections} connections",
        flush=True,
    )
    if load_start[0] > cpus / 2:
        print(f"warning: the machine is busy (1-min load {load_start[0]:.1f} on {cpus} cpus); figures will be noisy", flush=True)
    with contextlib.ExitStack() as stack:
        try:
            ctx = Context(
                quick=args.quick,
                duration=args.duration or (3.0 if args.quick else 10.0),
                warmup=args.warmup or (1.0 if args.quick else 2.0),
                rounds=max(1, args.rounds or (3 if args.quick else 5)),
                connections=args.connections,
                stack=stack,
                tmp=harness.make_tmp(stack),
            )
            ctx.gunicorn_args = shlex.split(args.gunicorn)
            ctx.signs_count = args.signs_count
            ctx.worker_counts = args.worker_counts
            if args.engine_options:
                json.loads(args.engine_options)  # fail early on a typo
                ctx.app_env["BENCH_ENGINE_OPTIONS"] = args.engine_options
                print(f"engine options for the app: {args.engine_options}", flush=True)

            def say(line: str) -> None:
                said.append(line)
                print(line, flush=True)

            ctx.say = say
            for bench in benchmarks:
                log(f"{bench.name}: {bench.about}")
                started = time.monotonic()
                with contextlib.ExitStack() as own:  # each benchmark's servers and databases
                    ctx.stack = own
                    try:
                        result = bench.run(ctx)
                    except Skip as reason:
                        skipped.append(f"{bench.name}: {reason}")
                        print(f"{bench.name}  skipped: {reason}", flush=True)
                        continue
                    except KeyboardInterrupt:
                        raise
                    except Exception as error:  # report it and go on with the others
                        failures.append(f"{bench.name}: {type(error).__name__}: {error}")
                        print(f"{bench.name}  FAILED: {type(error).__name__}: {error}", flush=True)
                        continue
                    finally:
                        ctx.stack = stack
                rows.extend(result)
                for line in group_lines(result):
                    print(line, flush=True)
                log(f"{bench.name} took {time.monotonic() - started:.0f} s")
            notes = ctx.notes
        except KeyboardInterrupt as interrupted:
            print(f"\ninterrupted ({interrupted or 'Ctrl-C'}): cleaning up", file=sys.stderr, flush=True)
            return 130

    load_end = os.getloadavg()
    print()
    print(f"== summary  (cpus={cpus}, 1-min load {load_start[0]:.2f} at start, {load_end[0]:.2f} at end)")
    for line in group_lines(rows):
        print(line)
    if any(name.startswith("scan/") for name, _v, _u in rows):
        print(
            "  (scan: every building's static part cached, the steady state; nocache: "
            "SCAN_CACHE_SECONDS=0, a building nobody scanned lately; bare_db: bare after one indexed "
            "read, the floor of a request that reads the database; *_rps: all rounds together; "
            "ratio: median over rounds of scan/bare req/s measured back to back; "
            "latencies from wrk, median of the rounds)"
        )
    for line in said:
        print(line)
    values = {name: value for name, value, _unit in rows}
    for name, value in values.items():
        if name.endswith("/ratio") and name.startswith("scan/"):
            group = name.rsplit("/", 1)[0]
            verdict = "meets" if value >= SCAN_TARGET else "below"
            floor = values.get(f"{group}/bare_db_ratio")
            floor_text = f" (bare + one database read alone: {floor:.0%})" if floor is not None else ""
            print(f"{group}: scan is {value:.0%} of bare req/s, {verdict} the {SCAN_TARGET:.0%} target{floor_text}")
    for note in notes:
        print(f"note: {note}")
    for item in skipped:
        print(f"skipped: {item}")
    for item in failures:
        print(f"failed: {item}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
