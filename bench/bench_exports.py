"""Benchmark of the exports: the console's queue as CSV and XLSX over 100,000 and 1,000,000 tickets.

    .venv/bin/python bench/bench_exports.py                        # 100k and 1M, PostgreSQL
    .venv/bin/python bench/bench_exports.py --tickets 20000 --formats csv

For each size, builds a PostgreSQL database of its own (gridreport_bench_exports, dropped at the
end) with bench_figures.py's street (15 communities, 105 grids, 5,250 buildings) and tickets
(one INSERT ... SELECT over generate_series), all of them closed reports so that one filter of
the console (status=closed) lists every one. Then, per format, a child process signs a street
staff member in to the console with a password (the real sign-in form) and downloads
/console/export.<format>?status=closed through the app (the door, webapp.exports, the queue's
statement with its server-side cursor), reading the body as it streams; it prints the rows, the
seconds and its peak RSS (getrusage), beside the RSS it had before the export started:

    exports/postgresql  format=csv  rows=1000000  seconds=41.2  rows_per_s=24270  rss_before_mb=95.1  peak_rss_mb=104.3

Memory that does not grow with the rows shows as the same peak for 100k and 1M.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_figures, harness  # noqa: E402

DATABASE = "gridreport_bench_exports"
PASSWORD = "bench-exports-42"
SIZES = (100_000, 1_000_000)


# Every ticket a closed report, so that one filter of the console (status=closed) lists them all.
CLOSE_EVERY_TICKET = (
    "UPDATE tickets SET status = 'closed', kind = 'report', "
    "category_id = CASE WHEN category_id > :reports THEN 1 ELSE category_id END, "
    "closed_at = COALESCE(closed_at, created_at + interval '2 days')"
)


def build(url: str, tickets: int) -> None:
    """bench_figures' street and tickets, every ticket a closed report (changed before the
    tickets' indexes are built); no roll-up, which the exports do not read."""
    bench_figures.build(
        url, tickets, rolled_up=False,
        reshape=(CLOSE_EVERY_TICKET, {"reports": bench_figures.REPORT_CATEGORIES}),
    )


def child(url: str, fmt: str) -> None:
    """In a process of its own: sign in to the console, download the export, print the figures."""
    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.people import passwords

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        passwords.set_password("S1", PASSWORD, by="cli")
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed = client.post("/console/login", data={"username": "S1", "password": PASSWORD, "csrf_token": token})
    assert signed.status_code in (302, 303), signed.status_code
    client.get("/console/")  # warm: the queue page, its statements and names
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    response = client.get(f"/console/export.{fmt}", query_string={"status": "closed"}, buffered=False)
    assert response.status_code == 200, response.status_code
    size = lines = 0
    target = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-export-{os.getpid()}.{fmt}"
    with target.open("wb") as out:
        for chunk in response.response:
            size += len(chunk)
            lines += chunk.count(b"\n")
            out.write(chunk)
    response.close()
    seconds = time.perf_counter() - started
    rows = lines - 1 if fmt == "csv" else _xlsx_rows(target)
    target.unlink()
    print(
        f"exports/postgresql  format={fmt}  rows={rows}  seconds={seconds:.1f}  rows_per_s={rows / seconds:.0f}  "
        f"bytes={size}  rss_before_mb={rss_before:.1f}  peak_rss_mb={_peak_rss_mb():.1f}",
        flush=True,
    )


def _xlsx_rows(path: Path) -> int:
    """The rows of the export, read from the audit entry the export wrote (reading a
    1M-row workbook back would dominate the run)."""
    return int(_last_audit_rows())


def _last_audit_rows() -> int:
    engine = sa.create_engine(os.environ["BENCH_EXPORTS_URL"])
    with engine.connect() as conn:
        detail = conn.execute(sa.text("SELECT detail FROM audit_entries ORDER BY id DESC LIMIT 1")).scalar()
    engine.dispose()
    return int(detail["rows"])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(url: str, formats: list[str], python: str = sys.executable) -> list[str]:
    lines = []
    for fmt in formats:
        out = subprocess.run(
            [python, str(Path(__file__)), "--child", fmt, "--url", url],
            capture_output=True, text=True, cwd=ROOT, timeout=3600,
            env={**os.environ, "PYTHONPATH": str(ROOT), "BENCH_EXPORTS_URL": url},
        )
        if out.returncode != 0:
            raise RuntimeError(f"export child exited with {out.returncode}:\n{out.stdout}\n{out.stderr}")
        lines += [line for line in out.stdout.splitlines() if line.startswith("exports/")]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", default=",".join(map(str, SIZES)), help="sizes, comma-separated")
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--url", help="an existing, empty PostgreSQL database to use (one size only; kept)")
    parser.add_argument("--child", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.url, args.child)
        return 0
    formats = args.formats.split(",")
    for count in (int(n) for n in args.tickets.split(",")):
        url, drop = args.url, None
        if url is None:
            url, drop = _fresh_database()
        try:
            started = time.perf_counter()
            build(url, count)
            print(f"  · database of {count} tickets built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            for line in measure(url, formats):
                print(f"{line}  tickets={count}", flush=True)
        finally:
            if drop is not None:
                drop()
    return 0


def _fresh_database():
    admin = sa.create_engine(bench_figures.PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": DATABASE})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}"'))

    drop()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    url = sa.engine.make_url(bench_figures.PG_ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    return url, drop


def bench_exports_postgresql(ctx) -> list[tuple]:
    """For bench/run.py: this script in a child process, a scratch database of the run per size.

    100,000 tickets in CSV and XLSX, 1,000,000 in CSV (the peak RSS at both sizes: memory that
    does not grow with the rows); 20,000 with --quick. The 1,000,000-row XLSX (about 4 minutes
    of openpyxl) keeps `make bench` under 15 minutes: run it alone with
    `bench/bench_exports.py --tickets 1000000`. Rows
    exports/postgresql/<format>_<size>_{rows_per_s,peak_rss_mb}.
    """
    sizes = (20_000,) if ctx.quick else SIZES
    rows = []
    for count in sizes:
        url = harness.postgres_database(ctx, prefix=DATABASE)
        formats = "csv" if count >= 1_000_000 else "csv,xlsx"
        out = subprocess.run(
            [ctx.python, str(Path(__file__)), "--url", url, "--tickets", str(count), "--formats", formats],
            capture_output=True, text=True, cwd=ROOT, timeout=7200, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if out.returncode != 0:
            raise RuntimeError(f"bench_exports.py exited with {out.returncode}:\n{out.stdout}\n{out.stderr}")
        for line in out.stdout.splitlines():
            if line.startswith("exports/"):
                ctx.say(line)
                fields = dict(part.split("=", 1) for part in line.split()[1:])
                name = f"exports/postgresql/{fields['format']}_{count}"
                rows.append((f"{name}_rows_per_s", float(fields["rows_per_s"]), "rows/s"))
                rows.append((f"{name}_peak_rss_mb", float(fields["peak_rss_mb"]), "MB"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
