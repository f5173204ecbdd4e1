"""Who reports from a plain browser: a guest person behind a long-lived cookie.

A phone browser has no WeChat login. Its reporter is a guest Person (no openid) with an
ordinary auth session (webapp.people.auth.start_session); the cookie holds that session's
token and the time it was issued: "<unix seconds>.<token>". It is HttpOnly, SameSite=Lax,
Secure on https, and lives as long as the session (TOKEN_TTL_SECONDS); each visit more than
a day after it was issued swaps it for a fresh session, so a guest who comes back keeps the
same person. An unknown, expired or revoked cookie is simply ignored.

A browser without a (valid) cookie gets the guest whose id is derived from the form's
idempotency key (a keyed hash), so a double-tap or a resubmit after a lost response, which
carry no cookie yet, reach the same person and so the same ticket. The key is bound to the
form token, which is issued by the server and lasts a day: nobody can pick a key, and a key
is only good while its form is.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

from flask import Response, current_app, request
from sqlalchemy.exc import IntegrityError

from webapp.columns import ID_LENGTH
from webapp.errors import Unauthorized
from webapp.extensions import db
from webapp import limits
from webapp.keys import derived_key
from webapp.people import auth
from webapp.people.actors import Actor, load_actor
from webapp.people.models import Person

COOKIE_NAME = "gr_guest"
REFRESH_AFTER_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Guest:
    actor: Actor
    # A new cookie value to send with the response (after the commit), if any.
    new_cookie: str | None = None


def _cookie_value(token: str) -> str:
    return f"{int(time.time())}.{token}"


def _read_cookie() -> tuple[str, int] | None:
    issued, _, token = request.cookies.get(COOKIE_NAME, "").partition(".")
    if not token or not issued.isdigit():
        return None
    return token, int(issued)


def cookie_guest(*, refresh: bool = True) -> Guest | None:
    """The person behind this browser's cookie, or None without a live one.

    With refresh, a cookie issued more than a day ago is replaced: its session is ended and
    a new one started, in the caller's transaction (commit before sending the new cookie).
    """
    found = _read_cookie()
    if found is None:
        return None
    token, issued = found
    try:
        actor = auth.authenticate(token)
    except Unauthorized:
        return None
    if refresh and time.time() - issued > REFRESH_AFTER_SECONDS:
        auth.logout(token)
        new_token, _ = auth.start_session(actor.person_id)
        return Guest(actor, _cookie_value(new_token))
    return Guest(actor)


def guest_person_id(idempotency_key: str) -> str:
    """The id of the guest a cookieless browser gets for one form (opaque, like new_id)."""
    mac = hmac.new(derived_key("h5-guest"), f"h5-guest:{idempotency_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:ID_LENGTH]


def guest_for_submission(idempotency_key: str) -> Guest:
    """The reporter of a form post: the cookie's person, else the form's guest (created if
    new) with a new session. Runs in the caller's transaction."""
    guest = cookie_guest()
    if guest is not None:
        return guest
    person_id = guest_person_id(idempotency_key)
    if db.session.get(Person, person_id) is None:
        # A new guest identity: GUESTS_PER_ADDRESS_PER_HOUR per client address (429).
        address = "addr:" + (request.remote_addr or "unknown")
        limits.cap_reached("GUESTS_PER_ADDRESS_PER_HOUR", address)
        limits.count_cap("GUESTS_PER_ADDRESS_PER_HOUR", address)
        try:
            with db.session.begin_nested():
                db.session.add(Person(id=person_id, name=""))
        except IntegrityError:
            pass  # the same form posted twice at once: the twin created the guest
    token, _ = auth.start_session(person_id)
    return Guest(load_actor(person_id), _cookie_value(token))


def set_cookie(response: Response, value: str) -> Response:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=int(current_app.config["TOKEN_TTL_SECONDS"]),
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


def is_guest(person_id: str | None) -> bool:
    """A person who came in through the phone web page: no WeChat account behind them."""
    if person_id is None:
        return False
    person = db.session.get(Person, person_id)
    return person is not None and person.openid is None
