"""The console in its production configuration (ProductionConfig: secure cookies, CSRF with the
Referer check over HTTPS, no demo login), in Chromium: a grid worker signs in with a password,
finds a new ticket, accepts it and resolves it with an after photo, and the reporter sees the
change through the API. CI runs it on SQLite and on PostgreSQL, the production database.

The page is served on http://localhost, which Chromium treats as a secure origin, so the
Secure session cookie is kept as it is behind nginx's HTTPS.
"""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.console.test_security import production_app  # noqa: F401 - the fixture
from tests.factories import auth_headers, jpeg_bytes, make_registry, submit
from webapp.extensions import db
from webapp.people import passwords

PASSWORD = "production-horse-42"


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def production_server(production_app):  # noqa: F811
    server = make_server("127.0.0.1", 0, production_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_a_grid_worker_signs_in_and_resolves_a_ticket_in_production(
    production_server, browser, registry, client, tmp_path
):
    worker = registry.workers[0]
    passwords.set_password(worker.code, PASSWORD)
    db.session.commit()
    resident = auth_headers(client, openid="production-reporter")
    ticket = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    base = production_server

    page.goto(f"{base}/console/login")
    assert "演示" not in page.inner_text("body")  # no demo account picker in production
    page.fill("#username", worker.code)
    page.fill("#password", PASSWORD)
    page.click("#sign-in-button")
    page.wait_for_url(f"{base}/console/")
    (cookie,) = [c for c in context.cookies() if c["name"] == "session"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.fill("#filter-q", ticket["number"])
    page.click("#filter-submit")
    page.click(f"text={ticket['number']}")
    page.wait_for_url(f"{base}/console/tickets/{ticket['id']}")
    page.click("#do-accept")
    page.wait_for_selector("#action-done")
    assert page.inner_text("#ticket-status") == "处理中"

    photo = tmp_path / "after.jpg"
    photo.write_bytes(jpeg_bytes(size=(320, 240), color=(30, 140, 60)))
    page.click("#action-resolve summary")
    page.set_input_files("#resolve-photo", str(photo))
    page.fill("#resolve-note", "已更换灯泡，楼道照明恢复")
    page.click("#do-resolve")
    page.wait_for_selector("#action-done")
    assert page.inner_text("#ticket-status") == "待评价"
    page.screenshot(path=str(tmp_path / "console-production-resolved.png"), full_page=True)
    context.close()

    seen = client.get(f"/api/v1/tickets/{ticket['id']}", headers=resident).get_json()
    assert seen["status"] == "resolved"
    assert seen["timeline"][-1]["action"] == "resolve" and len(seen["timeline"][-1]["photo_ids"]) == 1
