"""Memory of the gunicorn workers under a burst of big uploads (issue 14, item 2).

    .venv/bin/python bench/run.py --only uploads
    .venv/bin/python bench/bench_uploads.py           # the same, alone

The photo: a PNG of 6000 x 6600 black pixels, ~112 KB that decode to 39.6 MP (under the
40 MP cap), made here. The burst: 16 POST /api/v1/uploads of it, 8 at a time, as 8 residents
(bearer tokens minted in a child process on a migrated SQLite database). The app runs under
gunicorn as run.py runs every server (2 gthread workers, 4 threads, --preload), in three
variants:

- unbounded: PHOTO_MAX_SIDE=0, PHOTO_MAX_REQUEST_PIXELS=0, PHOTO_DECODES_PER_PROCESS=0,
  PHOTO_MALLOC_TRIM=0: no downscale, no caps, no trim (the decode path as before, except that
  EXIF orientation is applied in place and images are closed);
- bounded: the defaults (2560 px, 120 MP per request, 2 decodes per process, malloc_trim);
- bounded+arena2: the same with MALLOC_ARENA_MAX=2 in gunicorn's environment, as
  docs/operations.md's systemd unit sets it;
- 1slot+arena2: the same with PHOTO_DECODES_PER_PROCESS=1.

Each worker's RSS (VmRSS from /proc/<pid>/status) is read before the burst (after one small
upload per worker has warmed it), every 50 ms during it (the peak is printed) and 2 s after it
ended; also the answers' statuses and the burst's wall time. Figures are printed, never asserted.
"""
from __future__ import annotations

import concurrent.futures
import io
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.harness import Context, Row, log  # noqa: E402

SIZE = (6000, 6600)
BURST, AT_ONCE = 16, 8
SETTLE_SECONDS = 2.0
VARIANTS = {
    "unbounded": {
        "PHOTO_MAX_SIDE": "0",
        "PHOTO_MAX_REQUEST_PIXELS": "0",
        "PHOTO_DECODES_PER_PROCESS": "0",
        "PHOTO_MALLOC_TRIM": "0",
    },
    "bounded": {},
    "bounded+arena2": {"MALLOC_ARENA_MAX": "2"},
    "1slot+arena2": {"MALLOC_ARENA_MAX": "2", "PHOTO_DECODES_PER_PROCESS": "1"},
}


def big_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", SIZE).save(buffer, "PNG")
    return buffer.getvalue()


def small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def workers(master_pid: int, expected: int) -> list[int]:
    """The master's worker pids, once all `expected` of them are forked (or after 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        if len(children) >= expected or time.monotonic() > deadline:
            return sorted(int(pid) for pid in children)
        time.sleep(0.1)


def _worker_count(args: list[str]) -> int:
    for flag in ("--workers", "-w"):
        if flag in args:
            return int(args[args.index(flag) + 1])
    return 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def upload(base: str, token: str, data: bytes) -> int:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"black.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        base + "/api/v1/uploads", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


class Sampler(threading.Thread):
    """The highest VmRSS of each pid, read every 50 ms until stopped."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.peak = {pid: 0.0 for pid in pids}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.peak:
                try:
                    self.peak[pid] = max(self.peak[pid], rss_mb(pid))
                except OSError:
                    pass
            self.done.wait(0.05)


def _prepare(ctx: Context, url: str, tokens_file: Path) -> list[str]:
    out = subprocess.run(
        [ctx.python, str(Path(__file__)), "--prepare", url, str(tokens_file)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "INSTANCE_DIR": str(ctx.tmp / "instance")},
    )
    if out.returncode != 0:
        raise RuntimeError(f"preparing the database failed:\n{out.stdout}\n{out.stderr}")
    return [line.split("\t", 1)[0] for line in tokens_file.read_text().splitlines() if line]


def _variant(ctx: Context, name: str, url: str, tokens: list[str], data: bytes) -> list[Row]:
    env = harness.app_env(ctx, url, **VARIANTS[name])
    server = harness.gunicorn(ctx, f"uploads-{name}", "bench.scan_wsgi:app", env, ctx.gunicorn_args, "/")
    pids = workers(server.process.pid, _worker_count(ctx.gunicorn_args))
    # Warm each worker (imports, a first decode): small uploads until both have answered one.
    warm = small_png()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda t: upload(server.base, t, warm), tokens[:8]))
    time.sleep(0.5)
    before = {pid: rss_mb(pid) for pid in pids}
    sampler = Sampler(pids)
    sampler.start()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
        statuses = list(pool.map(lambda n: upload(server.base, tokens[n % len(tokens)], data), range(BURST)))
    wall = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    sampler.done.set()
    sampler.join()
    after = {pid: rss_mb(pid) for pid in pids}
    server.stop()
    tail = server.log_tail(5)
    if "Traceback" in tail:
        ctx.note(f"uploads-{name} log ends with:\n{tail}")
    group = f"uploads/{name}"
    rows: list[Row] = []
    for number, pid in enumerate(pids, start=1):
        rows += [
            (f"{group}/w{number}_before_mb", before[pid], "MB"),
            (f"{group}/w{number}_peak_mb", sampler.peak[pid], "MB"),
            (f"{group}/w{number}_after_mb", after[pid], "MB"),
        ]
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    rows += [(f"{group}/status_{status}", count, "n") for status, count in sorted(counts.items())]
    rows.append((f"{group}/burst_s", wall, "s"))
    return rows


def bench_uploads(ctx: Context) -> list[Row]:
    url = harness.sqlite_database(ctx, "uploads.sqlite3")
    tokens = _prepare(ctx, url, ctx.tmp / "upload-tokens.txt")
    data = big_png()
    log(f"burst: {BURST} x POST /api/v1/uploads of a {SIZE[0]}x{SIZE[1]} black PNG "
        f"({len(data) // 1024} KB), {AT_ONCE} at a time")
    rows: list[Row] = [("uploads/photo_kb", len(data) / 1024, "KB")]
    for name in VARIANTS:
        rows += _variant(ctx, name, url, tokens, data)
    return rows


def _prepare_child(url: str, out: str) -> None:
    from flask_migrate import upgrade

    from bench.bench_submit import _mint_child
    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db

    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    _mint_child(url, out, AT_ONCE, [])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--prepare":
        _prepare_child(sys.argv[2], sys.argv[3])
        raise SystemExit(0)
    from bench import run

    raise SystemExit(run.main(["--only", "uploads", *sys.argv[1:]]))
