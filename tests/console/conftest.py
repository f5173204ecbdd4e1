"""The console's test client: each request in an app context of its own, as in production.

The suite's fixtures hold one app context for a whole test (`app_ctx`), which a test client
request reuses, and with it `flask.g`: there Flask-Login keeps the signed-in user and
Flask-WTF the form token of one request, which must not leak into the next request.
"""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient


class RequestPerContextClient(FlaskClient):
    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return RequestPerContextClient(app, app.response_class, use_cookies=True)
