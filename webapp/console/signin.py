"""Signing in and out of the console, and who is signed in.

The session (Flask-Login, in the signed cookie) holds "<person id>:<session version>": a new
password or a sign-out moves the person's version on, which ends every console session of
theirs (a cookie cannot be revoked on its own). Each request loads the person's roles afresh,
so a staff member who lost their staff roles is signed out at their next click.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_user, logout_user

from webapp.console import bp, login_manager
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.limits import login_per_address
from webapp.people import auth, passwords
from webapp.people.actors import Actor


class ConsoleUser(UserMixin):
    """Flask-Login's user: the acting staff member and the session version they signed in with."""

    def __init__(self, actor: Actor, session_version: int) -> None:
        self.actor = actor
        self.session_version = session_version

    def get_id(self) -> str:
        return f"{self.actor.person_id}:{self.session_version}"


@login_manager.user_loader
def load_user(user_id: str) -> ConsoleUser | None:
    person_id, _, version = user_id.rpartition(":")
    if not person_id or not version.isdigit():
        return None
    actor = passwords.session_actor(person_id, int(version))
    return ConsoleUser(actor, int(version)) if actor is not None else None


def staff_required(view):
    """Run the view with the signed-in staff member as its first argument; else to sign-in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            target = request.full_path if request.query_string else request.path
            return redirect(url_for("console.login", next=target))
        return view(current_user.actor, *args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    target = (target or "").strip()
    if target == "/console" or (target.startswith("/console/") and "\\" not in target):
        return target
    return url_for("console.queue")


def _demo_accounts() -> list[dict]:
    if not current_app.config["DEV_LOGIN"]:
        return []
    return [a for a in auth.dev_accounts() if set(a["roles"]) - {"resident", "rider"}]


def login_page(*, error: str | None = None, status: int = 200, username: str = "", headers=None):
    """The sign-in form (and, in the demo, the account picker)."""
    next_target = request.values.get("next") or ""
    body = render_template(
        "console/login.html", error=error, username=username, next=next_target,
        accounts=_demo_accounts(), signed_out=request.args.get("signed_out") == "1",
    )
    return body, status, headers or {}


def _start_session(signed: passwords.SignedIn):
    session.clear()  # a new session: a new CSRF token too
    login_user(ConsoleUser(signed.actor, signed.session_version))
    session.permanent = True  # lives CONSOLE_SESSION_HOURS after the last request
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.get("/login")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("console.queue"))
    return login_page()


@bp.post("/login")
@login_per_address
def login_post():
    """Sign in with username and password. A refusal is a page with the reason in Chinese
    (401 wrong username or password, 429 locked out); it is recorded and committed."""
    username = request.form.get("username", "")
    try:
        signed = passwords.verify_sign_in(username, request.form.get("password", ""), request.remote_addr)
    except DomainError as error:
        db.session.commit()  # the failure counts: the lock-out and the audit trail keep it
        return login_page(error=error.message, status=error.status, username=username.strip()[:40], headers=error.headers)
    db.session.commit()
    return _start_session(signed)


@bp.post("/login/demo")
@login_per_address
def login_demo():
    """Demo only (DEV_LOGIN): sign in as the staff account picked from the list."""
    if not current_app.config["DEV_LOGIN"]:
        abort(404)
    try:
        signed = passwords.sign_in_demo(request.form.get("openid", ""), request.remote_addr)
    except DomainError as error:
        db.session.rollback()
        return login_page(error=error.message, status=error.status)
    db.session.commit()
    return _start_session(signed)


@bp.post("/logout")
def logout():
    """Sign out: this person's console sessions end everywhere; recorded in the audit trail."""
    if current_user.is_authenticated:
        passwords.sign_out(current_user.actor.person_id, request.remote_addr)
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("console.login", signed_out=1), 303)
