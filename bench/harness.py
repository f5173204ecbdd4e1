"""Pieces every benchmark shares: the run context, gunicorn servers, wrk, scratch databases.

Everything started here is registered on the context's ExitStack and torn down when the run
ends, normally or not: servers by process group (SIGTERM, then SIGKILL), PostgreSQL databases
by terminating their sessions and dropping them, temporary directories by removal.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

Row = tuple  # (name, value, unit): name "group/key", e.g. ("scan/sqlite/ratio", 0.81, "")


class Skip(Exception):
    """A benchmark cannot run here (missing tool or server); the reason is printed."""


@dataclass
class Context:
    quick: bool
    duration: float  # measured seconds per side (split over `rounds`)
    warmup: float
    rounds: int
    connections: int
    stack: contextlib.ExitStack
    tmp: Path
    python: str = field(default_factory=lambda: str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable)
    notes: list[str] = field(default_factory=list)
    gunicorn_args: list[str] = field(default_factory=list)
    signs_count: int | None = None
    app_env: dict[str, str] = field(default_factory=dict)  # extra environment for the real app
    worker_counts: bool = False  # log each request's worker pid and say how they spread
    say: Callable[[str], None] = print  # a line for the report (printed now and in the summary)

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(text)


def log(text: str) -> None:
    print(f"  · {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    logfile: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the whole process group: gunicorn's master and its workers."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def gunicorn(
    ctx: Context,
    name: str,
    app: str,
    env: dict[str, str],
    gunicorn_args: list[str],
    ready_path: str,
    ready_timeout: float = 120,
) -> Server:
    """Start `gunicorn <app>` in its own session (so its group can be killed) and wait until
    `ready_path` answers 200."""
    exe = VENV_BIN / "gunicorn"
    if not exe.exists():
        found = shutil.which("gunicorn")
        if not found:
            raise Skip("gunicorn is not installed (make installs it into .venv)")
        exe = Path(found)
    port = free_port()
    logfile = ctx.tmp / f"{name.replace('/', '_')}.log"
    cmd = [
        str(exe), *gunicorn_args,
        "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
        "--error-logfile", str(logfile),
        "--chdir", str(ROOT),
    ]
    access_log = ctx.tmp / f"{name.replace('/', '_')}.access.log"
    if ctx.worker_counts:  # one line per request: the pid of the worker that served it
        cmd += ["--access-logfile", str(access_log), "--access-logformat", "%(p)s"]
    cmd.append(app)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    process = subprocess.Popen(
        cmd, env=full_env, cwd=ROOT, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = Server(name, port, process, logfile)
    if ctx.worker_counts:
        ctx.stack.callback(lambda: ctx.say(f"  {name}: {worker_spread(access_log)}"))
    ctx.stack.callback(server.stop)  # runs first: the counts are read once it has stopped
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name}: gunicorn exited with {process.returncode}\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.base + ready_path, timeout=5) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: not ready after {ready_timeout:.0f} s\n{server.log_tail()}")
        time.sleep(0.2)


def worker_spread(access_log: Path) -> str:
    """How a server's requests spread over its workers, from its access log of pids."""
    try:
        pids = access_log.read_text().split()
    except OSError:
        return "no access log"
    counts = sorted(collections.Counter(pids).values(), reverse=True)
    if not counts:
        return "no requests"
    total = sum(counts)
    shares = " / ".join(f"{n} ({n / total:.0%})" for n in counts)
    return f"requests per worker: {shares}"


# ---------------------------------------------------------------------------------------------
# wrk


def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        cmd = ["apt-get", "install", "-y", "-q", "wrk"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 300}
        if subprocess.run(cmd, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet)
            subprocess.run(cmd, **quiet)
        found = shutil.which("wrk")
        if found:
            return found
    raise Skip("wrk is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu) and retry")


@dataclass
class Load:
    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # socket errors and timeouts
    bad_status: int  # responses outside 2xx/3xx
    # The count of each HTTP status, when the Lua script's response() callback reports them.
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def count(self, predicate: Callable[[int], bool]) -> int:
        return sum(n for status, n in self.statuses.items() if predicate(status))

    @property
    def non_2xx(self) -> int:
        return self.count(lambda s: not 200 <= s < 300)


# ---------------------------------------------------------------------------------------------
# CPU time: what a request costs the server and the database, whatever else the machine runs

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stats():
    """(pid, comm, process group, CPU seconds) of every process, from /proc: its own utime +
    stime and those of its children it has reaped (cutime + cstime). A process that ends
    between two snapshots takes its own CPU time out of /proc; once its parent has waited for
    it, that time is in the parent's cutime + cstime: a PostgreSQL backend closed mid-round (a
    pool's overflow connection) stays counted in the postmaster's, a gunicorn worker replaced
    mid-round in the master's (without them such a round's CPU came out too low, even below
    zero)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue  # it ended
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        # fields[0] is field 3 (state): pgrp is field 5, utime 14, stime 15, cutime 16, cstime 17
        yield int(entry.name), comm, int(fields[2]), sum(int(f) for f in fields[11:15]) / _TICKS


@dataclass
class CpuUse:
    """CPU seconds used during one load: by a server's process group and by PostgreSQL."""

    server: float
    database: float


def cpu_snapshot(server: Server | None) -> CpuUse:
    group = server.process.pid if server is not None else None  # started in its own session
    app = db = 0.0
    for _pid, comm, pgrp, seconds in _proc_stats():
        if group is not None and pgrp == group:
            app += seconds
        elif comm in ("postgres", "postmaster"):
            db += seconds
    return CpuUse(app, db)


def cpu_since(before: CpuUse, server: Server | None) -> CpuUse:
    after = cpu_snapshot(server)
    return CpuUse(after.server - before.server, after.database - before.database)


def run_wrk(
    ctx: Context, base: str, script: Path, args: list[str], seconds: float, connections: int | None = None
) -> Load:
    """One bounded wrk run (one thread: the machine has 2 cores) of `script` with its arguments."""
    exe = ensure_wrk()
    seconds = max(1, round(seconds))
    cmd = [
        exe, "-t1", f"-c{connections or ctx.connections}", f"-d{seconds}s", "--timeout", "5s",
        "-s", str(script), base, "--", *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            d = json.loads(line[len("BENCH_JSON "):])
            return Load(
                requests=d["requests"],
                seconds=d["duration_us"] / 1e6,
                bytes=d["bytes"],
                p50_ms=d["p50_us"] / 1000,
                p90_ms=d["p90_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                max_ms=d["max_us"] / 1000,
                errors=d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"],
                bad_status=d["status_errors"],
                statuses={int(k): v for k, v in d.get("statuses", {}).items()},
            )
    raise RuntimeError(f"wrk gave no result (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")


def wrk(
    ctx: Context,
    base: str,
    prefix: str,
    words_file: Path,
    seconds: float,
    connections: int | None = None,
    script: Path = BENCH / "urls.lua",
) -> Load:
    """GET <prefix><random word> for a bounded time (see run_wrk)."""
    return run_wrk(ctx, base, script, [str(words_file), prefix], seconds, connections)


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def merge(loads: list[Load]) -> Load:
    """Rounds of one side added up: total requests over total time; latency percentiles are
    the median of the rounds' (wrk gives no histogram to merge)."""
    return Load(
        requests=sum(x.requests for x in loads),
        seconds=sum(x.seconds for x in loads),
        bytes=sum(x.bytes for x in loads),
        p50_ms=_median([x.p50_ms for x in loads]),
        p90_ms=_median([x.p90_ms for x in loads]),
        p99_ms=_median([x.p99_ms for x in loads]),
        max_ms=max(x.max_ms for x in loads),
        errors=sum(x.errors for x in loads),
        bad_status=sum(x.bad_status for x in loads),
    )


@dataclass
class Comparison:
    """Per side: the merged load and each round's load (rounds are back to back across sides)."""

    merged: dict[str, Load]
    rounds: dict[str, list[Load]]

    def ratio(self, side: str, base: str) -> float:
        """Median over rounds of side/base requests per second. Each round loads the sides
        back to back, so a swing in the machine's load (other jobs) hits both terms of a
        round's ratio alike; the median drops a round that a swing straddled."""
        ratios = [s.rps / b.rps for s, b in zip(self.rounds[side], self.rounds[base]) if b.rps]
        return _median(ratios) if ratios else 0.0


def compare(ctx: Context, sides: dict[str, tuple[Server, str]], words_file: Path) -> Comparison:
    """Load every side with the same words: a warm-up each, then `rounds` rounds in which the
    sides take turns (in reverse order every other round), so that a change in the machine's
    load hits all sides alike."""
    for label, (server, prefix) in sides.items():
        log(f"warm-up {label} {ctx.warmup:.0f} s")
        wrk(ctx, server.base, prefix, words_file, ctx.warmup)
    runs: dict[str, list[Load]] = {label: [] for label in sides}
    per_round = ctx.duration / ctx.rounds
    order = list(sides)
    for r in range(ctx.rounds):
        for label in order if r % 2 == 0 else reversed(order):
            server, prefix = sides[label]
            load = wrk(ctx, server.base, prefix, words_file, per_round)
            log(f"round {r + 1}/{ctx.rounds} {label}: {load.rps:.0f} req/s, p99 {load.p99_ms:.1f} ms")
            runs[label].append(load)
    return Comparison({label: merge(loads) for label, loads in runs.items()}, runs)


# ---------------------------------------------------------------------------------------------
# Databases


def postgres_database(ctx: Context, prefix: str = "gridreport_bench") -> str:
    """A fresh PostgreSQL database of this run; dropped when the run ends."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        raise Skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {str(error).splitlines()[0]}")

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    ctx.stack.callback(drop)
    return sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_ticket_indexes(run) -> list[str]:
    """Before a bulk load of tickets in the current transaction (`run(sql, **params)`): drop
    the table's indexes but those behind its constraints, and turn its foreign-key triggers
    off for the transaction. Returns the indexes' definitions, to run again after the load:
    built once rather than row by row, as a restore would."""
    indexes = [row[0] for row in run(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'tickets' AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = 'tickets'::regclass)"
    )]
    for definition in indexes:
        run(f"DROP INDEX {definition.split(' INDEX ', 1)[1].split(' ON ', 1)[0]}")
    run("SET LOCAL session_replication_role = replica")  # no FK triggers for the bulk load
    return indexes


def sqlite_database(ctx: Context, name: str = "bench.sqlite3") -> str:
    return f"sqlite:///{ctx.tmp / name}"


def build_dataset(ctx: Context, url: str, codes_file: Path) -> dict:
    """Migrate `url` and fill it (bench/dataset.py, in a child process so that alembic's logging
    and the app's imports stay out of this one); the active codes go to `codes_file`."""
    started = time.monotonic()
    out = subprocess.run(
        [ctx.python, str(BENCH / "dataset.py"), url, str(codes_file)],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT), "INSTANCE_DIR": str(ctx.tmp / "instance"),
             "PERSONAL_DATA_KEY": BENCH_PERSONAL_DATA_KEY},  # the app must open what it seals
    )
    if out.returncode != 0:
        raise RuntimeError(f"building the dataset failed:\n{out.stdout}\n{out.stderr}")
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"dataset built in {time.monotonic() - started:.1f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


# One key per run, for the dataset builder and the app alike (phones are sealed with it).
BENCH_PERSONAL_DATA_KEY = "bench-personal-" + uuid.uuid4().hex


def app_env(ctx: Context, url: str, **extra: str) -> dict[str, str]:
    """Environment for the real app in production mode on `url`."""
    return {
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "PERSONAL_DATA_KEY": BENCH_PERSONAL_DATA_KEY,
        "PUBLIC_BASE_URL": "https://grid.example.cn",
        "INSTANCE_DIR": str(ctx.tmp / "instance"),
        "UPLOAD_DIR": str(ctx.tmp / "instance" / "photos"),
        "DEV_LOGIN": "0",
        # The limits stay on (their cost is measured) but a benchmark's load never meets them.
        **{name: "100000000/minute" for name in (
            "RATE_LIMIT_DEFAULT_PER_ADDRESS", "RATE_LIMIT_SCAN_PER_ADDRESS", "RATE_LIMIT_SCAN_PER_CODE",
            "RATE_LIMIT_SUBMIT_PER_PERSON", "RATE_LIMIT_SUBMIT_PER_ADDRESS", "RATE_LIMIT_SUBMIT_PER_CODE",
            "RATE_LIMIT_UPLOAD_PER_PERSON", "RATE_LIMIT_LOGIN_PER_ADDRESS", "RATE_LIMIT_CONSOLE_PER_USER")},
        "REPORTS_PER_PERSON_PER_DAY": "100000000/day",
        "WISHES_PER_BUILDING_PER_DAY": "100000000/day",
        "GUESTS_PER_ADDRESS_PER_HOUR": "100000000/hour",
        **ctx.app_env,
        **extra,
    }


def make_tmp(stack: contextlib.ExitStack) -> Path:
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridreport-bench-")))
