"""Who is calling: the bearer token of the Authorization header, read once per request."""
from __future__ import annotations

from functools import wraps

from flask import request
from flask_smorest import Api, Blueprint
from sqlalchemy.exc import SQLAlchemyError

from webapp.errors import Unauthorized
from webapp.limits import recover_session
from webapp.people.actors import Actor
from webapp.people.auth import authenticate

SCHEME = "bearerAuth"
ACTOR_KEY = "gridreport.actor"
BEARER_DOC = {
    "security": [{SCHEME: []}],
    "responses": {"401": {"description": "未登录或登录已失效"}},
}


def bearer_token() -> str | None:
    """The token of an "Authorization: Bearer <token>" header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_actor() -> Actor:
    """The logged-in actor of this request (authenticated once, cached on the request).

    Raises Unauthorized (401) when the token is missing, unknown, expired or revoked.
    """
    token = bearer_token()
    if token is None:
        raise Unauthorized()
    # Cached on the request itself: an app context (and its g) may outlive one request.
    actor = request.environ.get(ACTOR_KEY)
    if actor is None:
        actor = authenticate(token)
        request.environ[ACTOR_KEY] = actor
    return actor


def optional_actor() -> Actor | None:
    """The actor if a token was sent, None without one; a bad token still answers 401."""
    if bearer_token() is None:
        return None
    return current_actor()


def person_key() -> str:
    """The rate limits' key of the person behind the bearer token; "" (the limit is skipped,
    the view answers 401) without a live one."""
    try:
        return "person:" + current_actor().person_id
    except Unauthorized:
        return ""
    except SQLAlchemyError:
        recover_session()  # the view answers 503, not a PendingRollbackError's 500
        return ""


def login_required(view):
    """Answer 401 unless the request carries a live bearer token; documents the scheme.

    Put it above @blp.arguments so that a caller without a token gets 401, not 422.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        current_actor()
        return view(*args, **kwargs)

    return Blueprint.doc(**BEARER_DOC)(wrapper)


def register_security_scheme(api: Api) -> None:
    api.spec.components.security_scheme(
        SCHEME, {"type": "http", "scheme": "bearer", "description": "登录接口返回的 token"}
    )
