"""The private follow link of a ticket filed on the phone web page: /t/<ticket_id>/<token>.

A capability URL: the token is an HMAC of the ticket id (the "follow-link" key, webapp/keys.py;
links made with the key before a rotation still open: SECRET_KEY_PREVIOUS), and whoever holds the
link sees the ticket as its reporter sees it, photos included (served only through the same
token, never from a static folder; photos hidden by the content check are not shown). A wrong
token is a 404, exactly like an unknown ticket.

Feedback (confirm with 1-5 stars, or "not fixed") on a resolved ticket, as its reporter:
- a ticket filed by a guest (a person without WeChat, i.e. from this page): the link itself
  is the reporter's credential, as the page tells them to keep it (a cookie may be gone by the
  time the work is done: other browser, cleared data, an expired session);
- an anonymous wish has no reporter on record: only the browser whose guest cookie matches
  its keyed hash (access.is_reporter) may give feedback;
- a ticket of a WeChat user: feedback happens in the mini-program.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app, redirect, render_template, request, url_for

from webapp.errors import DomainError, NotFound
from webapp.extensions import db
from webapp.h5 import bp, error_page
from webapp.h5.guest import Guest, cookie_guest, is_guest, set_cookie
from webapp.keys import derived_key, verification_keys
from webapp.people.actors import RESIDENT, RIDER, Actor, load_actor
from webapp.people.models import ROLE_LABELS
from webapp.photo_store import send_photo
from webapp.tickets import access, actions, photos
from webapp.tickets.models import Photo, Ticket, TicketStatus
from webapp.tickets.presenter import TicketPresenter
from webapp.tickets.state_machine import REPORTER_ROLE, SYSTEM_ROLE, reason_label

COMMENT_MAX = 300
ACTOR_ROLE_LABELS = {
    REPORTER_ROLE: "反映人",
    SYSTEM_ROLE: "系统",
    RESIDENT: "居民",
    RIDER: "骑手",
    **{role.value: label for role, label in ROLE_LABELS.items()},
}
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _token_with(key: bytes, ticket_id: str) -> str:
    mac = hmac.new(key, f"h5-follow:{ticket_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).rstrip(b"=").decode()


def follow_token(ticket_id: str) -> str:
    return _token_with(derived_key("follow-link"), ticket_id)


def follow_token_ok(ticket_id: str, token: str) -> bool:
    """Made with the current key, or with a key still accepted (previous or legacy secret)."""
    given = token.encode()
    return any(
        hmac.compare_digest(given, _token_with(key, ticket_id).encode())
        for key in verification_keys("follow-link")
    )


def follow_path(ticket_id: str, **query) -> str:
    return url_for("h5.follow_page", ticket_id=ticket_id, token=follow_token(ticket_id), **query)


def _ticket(ticket_id: str, token: str) -> Ticket:
    ticket = None
    if follow_token_ok(ticket_id, token):
        ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound("未找到该工单，请检查链接是否完整", code="ticket_not_found")
    return ticket


def _feedback_actor(ticket: Ticket, guest: Guest | None) -> Actor | None:
    """Who gives feedback through this link, by the rule of the module docstring."""
    if guest is not None and access.is_reporter(guest.actor, ticket):
        return guest.actor
    if is_guest(ticket.reporter_id):
        return load_actor(ticket.reporter_id)
    return None


def _visible_photos(ticket: Ticket, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        db.session.scalars(
            db.select(Photo.id).where(
                Photo.id.in_(ids), Photo.ticket_id == ticket.id, Photo.is_hidden.is_(False)
            )
        )
    )


def _render(ticket: Ticket, token: str, guest: Guest | None, errors=None, form=None, status=200):
    # The reporter's view: a plain resident actor, so that nothing staff-only shows.
    view = TicketPresenter(Actor(person_id=ticket.reporter_id or "")).detail(ticket)
    all_ids = list(view["photo_ids"]) + [i for e in view["timeline"] for i in e["photo_ids"]]
    shown = _visible_photos(ticket, all_ids)
    view["photo_ids"] = [i for i in view["photo_ids"] if i in shown]
    for event in view["timeline"]:
        event["photo_ids"] = [i for i in event["photo_ids"] if i in shown]
        event["actor_label"] = ACTOR_ROLE_LABELS.get(event["actor_role"], "")
        event["reason_label"] = reason_label(event["action"], event["reason"])
    path = follow_path(ticket.id)
    body = render_template(
        "h5/follow.html",
        t=view,
        token=token,
        link=current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path,
        path=path,
        can_feedback=ticket.status is TicketStatus.RESOLVED
        and _feedback_actor(ticket, guest) is not None,
        awaiting_feedback=ticket.status is TicketStatus.RESOLVED,
        errors=errors or {},
        form=form or {},
        comment_max=COMMENT_MAX,
    )
    return body, status, PRIVATE_HEADERS


@bp.get("/t/<string:ticket_id>/<string:token>")
def follow_page(ticket_id: str, token: str):
    """The ticket as its reporter sees it: status, handler, deadline, timeline, photos."""
    try:
        ticket = _ticket(ticket_id, token)
    except DomainError as error:
        return error_page(error)
    guest = cookie_guest()
    if guest is not None and guest.new_cookie:
        db.session.commit()
    body, status, headers = _render(ticket, token, guest)
    response = current_app.make_response((body, status, headers))
    if guest is not None and guest.new_cookie:
        set_cookie(response, guest.new_cookie)
    return response


@bp.get("/t/<string:ticket_id>/<string:token>/photos/<string:photo_id>")
def follow_photo(ticket_id: str, token: str, photo_id: str):
    """One photo of the ticket (the reporter's or the handler's), to the link's holder."""
    try:
        ticket = _ticket(ticket_id, token)
    except DomainError as error:
        return error_page(error)
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.ticket_id != ticket.id or photo.is_hidden:
        return error_page(NotFound("未找到该照片", code="photo_not_found"))
    try:
        response = send_photo(photos.stored_photo(photo), max_age=3600)
    except DomainError as error:  # its file gone (404), the photo store unavailable (503)
        return error_page(error)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/t/<string:ticket_id>/<string:token>/feedback")
def follow_feedback(ticket_id: str, token: str):
    """已解决 with 1-5 stars (closes the ticket) or 未解决 (back to its handler)."""
    try:
        ticket = _ticket(ticket_id, token)
    except DomainError as error:
        return error_page(error)
    guest = cookie_guest(refresh=False)
    form = {
        "resolved": request.form.get("resolved", ""),
        "rating": request.form.get("rating", ""),
        "comment": request.form.get("comment", "").strip(),
    }
    errors: dict[str, list[str]] = {}
    if form["resolved"] not in ("1", "0"):
        errors["resolved"] = ["请选择问题是否已解决"]
    rating = int(form["rating"]) if form["rating"] in ("1", "2", "3", "4", "5") else None
    if form["resolved"] == "1" and rating is None:
        errors["rating"] = ["请给出1到5星的评价"]
    if len(form["comment"]) > COMMENT_MAX:
        errors["comment"] = [f"评价内容不能超过{COMMENT_MAX}个字"]
    actor = _feedback_actor(ticket, guest)
    if actor is None:
        errors["_form"] = ["请使用提交时的手机浏览器打开此链接进行评价"]
        return _render(ticket, token, guest, errors, form, 403)
    if errors:
        return _render(ticket, token, guest, errors, form, 422)
    try:
        actions.give_feedback(
            actor,
            ticket.id,
            resolved=form["resolved"] == "1",
            rating=rating,
            comment=form["comment"] or None,
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        ticket = db.session.get(Ticket, ticket_id)
        messages = {k: list(v) if not isinstance(v, str) else [v] for k, v in error.errors.items()}
        messages.setdefault("_form", [error.message])
        return _render(ticket, token, guest, messages, form, error.status)
    return redirect(url_for("h5.follow_page", ticket_id=ticket.id, token=token, done=1), code=303)
