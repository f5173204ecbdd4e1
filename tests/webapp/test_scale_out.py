"""Scale-out, shown: two app processes (gunicorn, the real app) and two outbox drainers against
one PostgreSQL, one Redis and one S3-compatible bucket, as docs/operations.md ("Running on
several hosts") lays production out.

- limits are shared: a per-address limit reached through process A refuses through B;
- a photo uploaded through A is served by B (PHOTO_STORAGE=s3 on a moto server);
- every outbox message is sent exactly once although two drainers run at once, and WeChat's
  access token is fetched once for both (shared through Redis). WeChat is a local HTTP server
  counting calls, reached through WECHAT_API_BASE.

Redis: the test's own key prefixes (limits, WeChat token) on REDIS_URL, deleted afterwards.
"""
from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
from sqlalchemy import select

from tests.factories import jpeg_bytes, make_person, make_registry
from tests.ports import free_port
from tests.tickets.test_photo_store import BUCKET, PREFIX, s3_settings, start_moto
from webapp.extensions import db
from webapp.notifications import outbox
from webapp.notifications.models import OutboxMessage, OutboxState
from webapp.notifications.subscriptions import add_consent
from webapp.photo_store import s3_client

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MESSAGES = 40
SEND_SECONDS = 0.05  # WeChat's answer time per message: long enough for both drainers to work
SCAN_LIMIT = 5
ADDRESS = "198.51.100.23"
OTHER_ADDRESS = "203.0.113.77"


class FakeWeChat(ThreadingHTTPServer):
    """api.weixin.qq.com as far as the outbox goes: the stable token and subscribe sends,
    counted."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _WeChatHandler)
        self.lock = threading.Lock()
        self.token_fetches = 0
        self.sends: list[dict] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _WeChatHandler(BaseHTTPRequestHandler):
    server: FakeWeChat

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/cgi-bin/stable_token":
            with self.server.lock:
                self.server.token_fetches += 1
            self._answer({"access_token": "SCALE-OUT-TOKEN", "expires_in": 7200})
        elif url.path == "/cgi-bin/message/subscribe/send":
            time.sleep(SEND_SECONDS)
            sent = json.loads(body)
            sent["access_token"] = parse_qs(url.query).get("access_token", [""])[0]
            with self.server.lock:
                self.server.sends.append(sent)
            self._answer({"errcode": 0, "errmsg": "ok"})
        else:
            self._answer({"errcode": 40066, "errmsg": "invalid url"}, status=404)

    def _answer(self, payload: dict, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def wechat_stand_in():
    server = FakeWeChat()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def bucket():
    server, endpoint = start_moto()
    yield endpoint
    server.stop()


@pytest.fixture
def redis_prefix():
    """Key prefixes of this test's own on the shared Redis; its keys are deleted afterwards."""
    prefix = f"gridreport-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    client.ping()
    yield prefix
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def settings(database_url, tmp_path, bucket, wechat_stand_in, redis_prefix) -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(tmp_path / "not-used"),  # photos go to the bucket
        "INSTANCE_DIR": str(tmp_path),
        "PUBLIC_BASE_URL": "https://grid.example.cn",
        "REDIS_URL": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"{redis_prefix}-limits",
        "WECHAT_TOKEN_PREFIX": f"{redis_prefix}:wechat",
        "TRUSTED_PROXY_COUNT": 1,
        "RATE_LIMIT_SCAN_PER_ADDRESS": f"{SCAN_LIMIT}/minute",
        "WECHAT_APPID": "wx-scale-out",
        "WECHAT_SECRET": "scale-out-secret",
        "WECHAT_API_BASE": wechat_stand_in.base,
        "WECHAT_TIMEOUT_SECONDS": 5,
        **s3_settings(bucket),
    }


def _env(settings: dict) -> dict:
    env = {**os.environ, "SCALE_OUT_SETTINGS": json.dumps(settings), "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    return env


def _start_gunicorn(settings: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "webapp" / "gunicorn.conf.py"),
         "--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "tests.webapp.scale_out_app:app"],
        cwd=ROOT, env=_env(settings), start_new_session=True,
    )
    return process, port


def _wait_ready(process: subprocess.Popen, port: int) -> None:
    deadline = time.time() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                pytest.fail("gunicorn did not start")
            time.sleep(0.1)


@pytest.fixture
def two_apps(settings):
    """Two gunicorn processes of the app, sharing the database, Redis and the bucket."""
    started = [_start_gunicorn(settings) for _ in range(2)]
    try:
        for process, port in started:
            _wait_ready(process, port)
        yield [f"http://127.0.0.1:{port}" for _, port in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _scan(base: str, code: str, address: str) -> int:
    return requests.get(f"{base}/api/v1/scan/{code}", headers={"X-Forwarded-For": address}, timeout=10).status_code


def test_scale_out_limits_are_shared_between_app_processes(two_apps, app_ctx):
    registry = make_registry()
    db.session.commit()
    code = registry.codes[registry.buildings[0].id]
    a, b = two_apps
    statuses = [_scan(a, code, ADDRESS) for _ in range(SCAN_LIMIT - 2)]
    statuses += [_scan(b, code, ADDRESS) for _ in range(2)]
    assert statuses == [200] * SCAN_LIMIT  # the address's whole allowance, over both processes
    refused = requests.get(f"{b}/api/v1/scan/{code}", headers={"X-Forwarded-For": ADDRESS}, timeout=10)
    assert refused.status_code == 429
    assert refused.json()["code"] and "Retry-After" in refused.headers
    assert _scan(a, code, ADDRESS) == 429
    assert _scan(b, code, OTHER_ADDRESS) == 200  # another address is not touched


def test_scale_out_a_photo_uploaded_through_one_process_is_served_by_the_other(two_apps, settings, app_ctx):
    a, b = two_apps
    login = requests.post(f"{a}/api/v1/auth/dev", json={"openid": "o-scale-out"}, timeout=10)
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    uploaded = requests.post(
        f"{a}/api/v1/uploads", headers=headers, timeout=30,
        files={"file": ("photo.jpg", io.BytesIO(jpeg_bytes(size=(90, 70))), "image/jpeg")},
    )
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()
    in_bucket = s3_client(settings).get_object(
        Bucket=BUCKET, Key=f"{PREFIX}{photo['sha256'][:2]}/{photo['sha256']}.jpg"
    )["Body"].read()

    served = requests.get(f"{b}/api/v1/photos/{photo['id']}", headers=headers, timeout=10)
    assert served.status_code == 200
    assert served.content == in_bucket
    assert served.headers["ETag"] == f'"{photo["sha256"]}"'
    assert not Path(settings["UPLOAD_DIR"]).exists()  # nothing on either process's disk


def _drainer(settings: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "tests.webapp.scale_out_app:app", "outbox", "drain",
         "--batch", "4", "--idle-seconds", "0.2", "--max-seconds", "10"],
        cwd=ROOT, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def test_scale_out_two_drainers_send_each_message_exactly_once(settings, wechat_stand_in, app_ctx):
    openids = [f"o-drain-{n:02d}" for n in range(MESSAGES)]
    for openid in openids:
        person = make_person(f"居民{openid[-2:]}", openid=openid)
        db.session.flush()
        message = outbox.enqueue(person.id, "ticket_resolved", data={"number": openid, "note": "已处理"})
        add_consent(person.id, message.template_id)
    db.session.commit()

    drainers = [_drainer(settings) for _ in range(2)]
    outputs = [drainer.communicate(timeout=60)[0] for drainer in drainers]
    assert [d.returncode for d in drainers] == [0, 0], outputs

    claimed = [int(re.search(r"total: .*?claimed=(\d+)", out).group(1)) for out in outputs]
    assert sum(claimed) == MESSAGES and min(claimed) > 0, outputs  # both drainers did work
    sent_to = Counter(send["touser"] for send in wechat_stand_in.sends)
    assert sent_to == Counter(openids)  # every message exactly once, none twice
    assert {send["access_token"] for send in wechat_stand_in.sends} == {"SCALE-OUT-TOKEN"}
    assert wechat_stand_in.token_fetches == 1  # one token for both drainers, through Redis
    db.session.expire_all()
    states = Counter(db.session.scalars(select(OutboxMessage.state)))
    assert states == {OutboxState.SENT: MESSAGES}
