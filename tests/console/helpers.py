"""Signing in to the console from a test client: the form's CSRF token, a password, the picker."""
from __future__ import annotations

import re

from webapp.extensions import db
from webapp.people import passwords

PASSWORD = "correct-horse-42"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/console/login", **request) -> str:
    """The CSRF token of the first form on a console page (the sign-in page by default)."""
    page = client.get(path, **request).get_data(as_text=True)
    match = _TOKEN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def give_password(person, password: str = PASSWORD) -> None:
    passwords.set_password(person.code, password, by="test")
    db.session.commit()


def sign_in(client, username: str, password: str = PASSWORD, **extra):
    """POST the sign-in form as a browser would (with its CSRF token)."""
    data = {"username": username, "password": password, "csrf_token": csrf_token(client), **extra}
    return client.post("/console/login", data=data)


def sign_in_as(client, person, password: str = PASSWORD):
    """Give a staff member a password and sign in with it; returns the response (303)."""
    give_password(person, password)
    return sign_in(client, person.code, password)


def pick_demo_account(client, person):
    """The demo's account picker (DEV_LOGIN): sign in as the person bound to an openid."""
    if not person.openid:
        person.openid = f"console-{person.id}"
        db.session.commit()
    return client.post(
        "/console/login/demo", data={"openid": person.openid, "csrf_token": csrf_token(client)}
    )
