"""The console's signed-cookie session, opened only for requests that carry its cookie.

Flask's interface builds its signing serializer (itsdangerous, keyed hashing) on every
request before it looks for the cookie; the mini-program's API and the phone page send no
cookie, so they were paying for a session they never had. Same cookie, same signing, same
behaviour; only the order of the two steps differs.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


class CookieSessionWhenSent(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what the parent answers for a request without one
        return super().open_session(app, request)
