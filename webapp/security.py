"""HTTP hardening every door shares: security headers on every page, the client's address.

Every HTML answer (the console, the phone page, the front page, error pages) carries a
Content-Security-Policy that allows no inline script or style (the pages' CSS and JavaScript
are files under webapp/static/), may not be framed, and sends the Referer to this site only;
every answer carries X-Content-Type-Options: nosniff. A view that sets one of these headers
itself keeps its own (the follow page's photos send no Referer at all).

Behind nginx the socket's peer is nginx: with TRUSTED_PROXY_COUNT proxies in front, the client
address (request.remote_addr, used by the sign-in lock-out and the audit trail) is read from
their X-Forwarded-For instead.
"""
from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # blob: the phone form's thumbnails of the photos chosen, before they are sent.
        "img-src 'self' data: blob:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    # Same-origin form posts keep their Referer (Flask-WTF checks it over HTTPS); other sites
    # never see a page's address (a follow link is a capability).
    "Referrer-Policy": "same-origin",
}


def register_security(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=0, x_host=0, x_port=0, x_prefix=0)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            for name, value in PAGE_HEADERS.items():
                headers.setdefault(name, value)
        return response
