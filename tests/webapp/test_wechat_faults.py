"""WeChat misbehaving never reaches a resident as a 500: one matrix, call × failure.

Every WeChat call a resident's request makes (webapp/wechat.py):
- login: jscode2session, in POST /api/v1/auth/wechat. A failure is the documented 401 (a bad
  code), or 503 wechat_unavailable: never a 500, nor an undocumented 502.
- text check: msg_sec_check, in POST /api/v1/tickets. WeChat unable to judge keeps the report
  (201) and holds it back from public lists (tickets.needs_review), as screen_text documents.
- image check: media_check_async, in POST /api/v1/uploads. The photo is kept (201, and served
  to its uploader), unchecked.
- access token: stable_token, fetched before either check; its failure ends as the check's.

The failures: WeChat answering an HTML page, bytes that are not JSON, an empty body, JSON of
another shape, an HTTP 502, a stall (requests' timeouts, and a real local server slower than
WECHAT_TIMEOUT_SECONDS), a refused connection, and the error codes -1 (system busy), 40001 (bad
token), 45009 (quota) and 40029 (bad login code). The cases already covered one by one
elsewhere (tests/webapp/test_wechat.py at the gateway, tests/api/test_auth.py for login's
40029/40163/40226/45011 and its timeout) are here again only as cells of the matrix, through HTTP.
"""
from __future__ import annotations

import http.server
import re
import socketserver
import threading
import time
import uuid

import pytest
import requests
import responses
import sqlalchemy as sa

import webapp.wechat as wechat_module
from tests.factories import auth_headers, jpeg_bytes, make_registry
from webapp.extensions import db
from webapp.wechat import (
    JSCODE2SESSION_URL,
    MEDIA_CHECK_ASYNC_URL,
    MSG_SEC_CHECK_URL,
    STABLE_TOKEN_URL,
    WeChatGateway,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")
TIMEOUT_SECONDS = 0.5


def _json(text: str) -> dict:
    return {"body": text, "status": 200, "content_type": "application/json"}


def _errcode(errcode: int) -> dict:
    return _json(f'{{"errcode": {errcode}, "errmsg": "errcode {errcode}"}}')


# How WeChat can fail, as keyword arguments of responses' add().
FAILURES = {
    "html": {"body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "status": 200,
             "content_type": "text/html"},
    "garbage": {"body": b"\x89\xff\x00\x13garbage\xfe", "status": 200,
                "content_type": "application/octet-stream"},
    "empty": {"body": b"", "status": 200, "content_type": "application/json"},
    "json_list": _json("[1, 2, 3]"),
    "errcode_not_a_number": _json('{"errcode": "system error", "errmsg": "?"}'),
    "odd_fields": _json(
        '{"errcode": 0, "result": "pass", "openid": ["o"], "session_key": 7,'
        ' "trace_id": {"id": 1}, "access_token": 42}'
    ),
    "http_502": {"body": "<html>bad gateway</html>", "status": 502, "content_type": "text/html"},
    "read_timeout": {"body": requests.ReadTimeout("stalled")},
    "connect_timeout": {"body": requests.ConnectTimeout("stalled")},
    "connection_refused": {"body": requests.ConnectionError("refused")},
    "busy_-1": _errcode(-1),
    "bad_token_40001": _errcode(40001),
    "quota_45009": _errcode(45009),
    "bad_code_40029": _errcode(40029),
}

# The login's answer per failure: 401 for WeChat's "bad code", else 503.
LOGIN_STATUS = {name: 503 for name in FAILURES} | {"bad_code_40029": 401}

GOOD = {
    "login": (responses.GET, JSCODE2SESSION_URL, {"openid": "o-faults", "session_key": "k"}),
    "text_check": (responses.POST, MSG_SEC_CHECK_URL,
                   {"errcode": 0, "result": {"suggest": "pass", "label": 100}}),
    "image_check": (responses.POST, MEDIA_CHECK_ASYNC_URL, {"errcode": 0, "trace_id": "trace-1"}),
    "token": (responses.POST, STABLE_TOKEN_URL, {"access_token": "TOKEN", "expires_in": 7200}),
}
CALLS = ("login", "text_check", "image_check", "token_at_submission", "token_at_upload")


@pytest.fixture
def wechat(app, monkeypatch):
    """A configured gateway (timeout TIMEOUT_SECONDS) on the app; WeChat mocked by responses,
    every call answering well until a test breaks one."""
    gateway = WeChatGateway("wx-faults", "s3cret", timeout=TIMEOUT_SECONDS)
    monkeypatch.setitem(app.extensions, "wechat", gateway)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        for method, url, answer in GOOD.values():
            mock.add(method, url, json=answer)
        yield mock


@pytest.fixture
def resident(app_ctx, client):
    registry = make_registry()
    headers = auth_headers(client, openid="o-resident-faults")
    return registry.codes[registry.buildings[0].id], headers


def _submit(client, code, headers):
    return client.post(
        "/api/v1/tickets",
        json={"code": code, "kind": "report", "category": "light",
              "description": "3单元楼道灯坏了一周，晚上很黑"},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )


def _upload(client, headers):
    import io

    return client.post(
        "/api/v1/uploads", data={"file": (io.BytesIO(jpeg_bytes()), "photo.jpg")},
        headers=headers, content_type="multipart/form-data",
    )


def _assert_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "message", "errors"}, body
    assert CHINESE.search(body["message"]), body


def _exercise(call, client, resident):
    """Make the resident's request that calls WeChat `call`; assert the documented answer for
    a WeChat that failed (the failure is set up by the caller)."""
    if call == "login":
        return client.post("/api/v1/auth/wechat", json={"code": "wx-code"})
    code, headers = resident
    if call in ("text_check", "token_at_submission"):
        response = _submit(client, code, headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        held = db.session.execute(
            sa.text("SELECT needs_review FROM tickets WHERE id = :id"),
            {"id": response.get_json()["id"]},
        ).scalar_one()
        assert bool(held) is True  # kept, but not shown to others until someone reviews it
        return response
    response = _upload(client, headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    kept = client.get(f"/api/v1/photos/{response.get_json()['id']}", headers=headers)
    assert kept.status_code == 200 and kept.data  # kept, unchecked, its uploader sees it
    return response


def _broken_url(call):
    return {"login": "login", "text_check": "text_check", "image_check": "image_check",
            "token_at_submission": "token", "token_at_upload": "token"}[call]


# 40029 is the login's errcode; the other calls meet it as any errcode they do not expect.
MATRIX = [(call, failure) for call in CALLS for failure in FAILURES]


@pytest.mark.parametrize(("call", "failure"), MATRIX, ids=[f"{c}-{f}" for c, f in MATRIX])
def test_a_failing_wechat_call_is_never_a_500(call, failure, wechat, resident, client):
    method, url, _ = GOOD[_broken_url(call)]
    wechat.replace(method, url, **FAILURES[failure])
    response = _exercise(call, client, resident)
    if call == "login":
        _assert_error(response, LOGIN_STATUS[failure])
    db.session.remove()


def test_a_good_wechat_answers_every_call(wechat, resident, client):
    """The matrix's baseline: with WeChat answering well, each call has its normal effect."""
    code, headers = resident
    login = client.post("/api/v1/auth/wechat", json={"code": "wx-code"})
    assert login.status_code == 200
    ticket = _submit(client, code, headers)
    assert ticket.status_code == 201
    upload = _upload(client, headers)
    assert upload.status_code == 201
    held = db.session.execute(
        sa.text("SELECT needs_review FROM tickets WHERE id = :id"), {"id": ticket.get_json()["id"]}
    ).scalar_one()
    assert bool(held) is False
    asked = {call.request.url.split("?")[0] for call in wechat.calls}
    assert {JSCODE2SESSION_URL, MSG_SEC_CHECK_URL, MEDIA_CHECK_ASYNC_URL, STABLE_TOKEN_URL} <= asked


class _StallingHandler(http.server.BaseHTTPRequestHandler):
    """Reads the request, then says nothing for longer than the gateway waits."""

    def _stall(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        time.sleep(TIMEOUT_SECONDS * 4)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode": 0}')
        except OSError:
            pass

    do_GET = do_POST = _stall

    def log_message(self, *args):
        pass


@pytest.fixture
def stalling_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _StallingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


URL_NAMES = {"login": "JSCODE2SESSION_URL", "text_check": "MSG_SEC_CHECK_URL",
             "image_check": "MEDIA_CHECK_ASYNC_URL", "token": "STABLE_TOKEN_URL"}


@pytest.mark.parametrize("call", CALLS)
def test_a_real_stall_longer_than_the_timeout_is_never_a_500(
    call, wechat, resident, client, stalling_server, monkeypatch
):
    """A real server that accepts the request and does not answer: the request is given up
    after WECHAT_TIMEOUT_SECONDS, not held for the stall."""
    monkeypatch.setattr(wechat_module, URL_NAMES[_broken_url(call)], f"{stalling_server}/stall")
    started = time.monotonic()
    response = _exercise(call, client, resident)
    elapsed = time.monotonic() - started
    if call == "login":
        _assert_error(response, 503)
    assert elapsed < TIMEOUT_SECONDS * 3.5, f"{call} waited {elapsed:.1f} s"
    db.session.remove()
