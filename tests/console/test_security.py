"""Security headers on every page, static files instead of inline code, cookie flags."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.console.helpers import PASSWORD, csrf_token, give_password, sign_in_as
from tests.factories import make_registry
from webapp.security import CONTENT_SECURITY_POLICY

TEMPLATES = Path(__file__).resolve().parents[2] / "webapp" / "templates"


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _assert_page_headers(response):
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    for part in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                 "base-uri 'self'", "form-action 'self'"):
        assert part in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_console_pages_carry_the_security_headers(client, registry):
    _assert_page_headers(client.get("/console/login"))
    sign_in_as(client, registry.community_staff)
    for path in ("/console/", "/console/signs", "/console/notifications", "/console/missing"):
        response = client.get(path)
        _assert_page_headers(response)
        assert response.headers["Cache-Control"] == "no-store"


def test_every_html_page_carries_them_and_the_api_is_not_sniffed(client, registry):
    code = registry.codes[registry.buildings[0].id]
    for path in ("/", f"/b/{code}", "/b/unknownCode"):
        _assert_page_headers(client.get(path))
    api = client.get(f"/api/v1/scan/{code}")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in api.headers
    assert "Cookie" not in api.headers.get("Vary", "")  # the console's session is not the API's


def test_no_template_has_inline_script_or_style():
    """The policy allows neither: CSS and JavaScript live in webapp/static/."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in TEMPLATES.rglob("*.html")
        for match in inline.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize("name", ["base.css", "console.css", "h5.css", "report-form.js", "follow.js"])
def test_the_pages_static_files_are_served(client, name):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.mimetype in ("text/css", "text/javascript", "application/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_console_cookie_is_httponly_and_lax(client, registry):
    response = sign_in_as(client, registry.workers[0])
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the demo runs on plain http://127.0.0.1


@pytest.fixture
def production_app(app, database_url, monkeypatch):
    from webapp import create_app
    from webapp.config import ProductionConfig

    monkeypatch.setenv("SECRET_KEY", "production-test-secret-of-at-least-32-bytes")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.cn")
    monkeypatch.setenv("PERSONAL_DATA_KEY", "production-test-personal-data-key-32-bytes")
    monkeypatch.delenv("DEV_LOGIN", raising=False)
    from webapp.privacy.sealing import development_key

    # The testing app's key: both apps read the phone numbers it sealed in the shared database.
    production = create_app(ProductionConfig, SQLALCHEMY_DATABASE_URI=database_url, SECRET_KEY="production-test-secret-of-at-least-32-bytes",
                            PERSONAL_DATA_KEY=development_key(app.config["SECRET_KEY"]))
    yield production
    from webapp.extensions import db

    with production.app_context():
        db.engine.dispose()


def test_production_cookies_are_secure_httponly_lax(production_app, registry):
    from sqlalchemy import select

    from tests.console.conftest import RequestPerContextClient
    from webapp.audit.models import AuditEntry
    from webapp.extensions import db

    config = production_app.config
    assert (config["SESSION_COOKIE_SECURE"], config["SESSION_COOKIE_HTTPONLY"], config["SESSION_COOKIE_SAMESITE"]) == (True, True, "Lax")
    assert (config["REMEMBER_COOKIE_SECURE"], config["REMEMBER_COOKIE_HTTPONLY"], config["REMEMBER_COOKIE_SAMESITE"]) == (True, True, "Lax")
    assert config["DEV_LOGIN"] is False

    give_password(registry.workers[0])
    browser = RequestPerContextClient(production_app, production_app.response_class, use_cookies=True)
    https = {"base_url": "https://grid.example.cn"}
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/console/login", **https).get_data(as_text=True))
    assert "演示模式" not in browser.get("/console/login", **https).get_data(as_text=True)
    response = browser.post(
        "/console/login", **https,
        data={"username": registry.workers[0].code, "password": PASSWORD, "csrf_token": token.group(1)},
        headers={"Referer": "https://grid.example.cn/console/login", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Behind nginx (TRUSTED_PROXY_COUNT=1 in production) the audit has the client's address.
    with production_app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in")).one()
        assert entry.address == "203.0.113.9"
    # Over HTTPS a form posted from another site (Referer) is refused like one without a token.
    refused = browser.post(
        "/console/logout", **https, data={"csrf_token": csrf_token(browser, "/console/", **https)},
        headers={"Referer": "https://evil.example/"},
    )
    assert refused.status_code == 400
