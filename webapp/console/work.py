"""The console's work pages: the queue, a ticket, the notifications sent."""
from __future__ import annotations

import tempfile

from flask import abort, render_template, request, send_file
from sqlalchemy import func, select

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.notifications.outbox import recent_messages
from webapp.notifications.templates import KIND_LABELS
from webapp.pagination import decode_cursor
from webapp.people.actors import Actor
from webapp.people.models import Person, Role
from webapp.registry import signs
from webapp.registry.models import Community, Street
from webapp.tickets import actions
from webapp.tickets.presenter import TicketPresenter
from webapp.tickets.queue import queue_page, work_queue_query

QUEUE_PAGE = 50
OVERSEER_ROLES = {Role.ADMIN.value, Role.STREET_STAFF.value, Role.COMMUNITY_STAFF.value}


@bp.get("/")
@staff_required
def queue(actor: Actor):
    """The tickets in the caller's scope, newest first, with counts by status."""
    status = request.args.get("status") or "open"
    try:
        after = decode_cursor(request.args["cursor"]) if request.args.get("cursor") else None
        listed = queue_page(actor, cursor=after, limit=QUEUE_PAGE, status=status)
    except ValueError:
        abort(400)
    scope = work_queue_query(actor, status="open").order_by(None).subquery()
    counts = dict(db.session.execute(select(scope.c.status, func.count()).group_by(scope.c.status)).all())
    return render_template(
        "console/queue.html",
        actor=actor,
        items=listed["items"],
        next_cursor=listed["next_cursor"],
        status=status,
        counts={getattr(k, "value", k): v for k, v in counts.items()},
    )


@bp.get("/tickets/<ticket_id>")
@staff_required
def ticket(actor: Actor, ticket_id: str):
    try:
        found = actions.visible_ticket(actor, ticket_id)
    except DomainError:
        abort(404)
    return render_template("console/ticket.html", actor=actor, t=TicketPresenter(actor).detail(found))


@bp.get("/notifications")
@staff_required
def notifications(actor: Actor):
    """Messages the outbox sent, skipped or failed: in the demo they went to the log."""
    if not actor.roles & OVERSEER_ROLES:
        abort(403)
    messages = recent_messages(100)
    names = dict(
        db.session.execute(
            select(Person.id, Person.name).where(Person.id.in_({m.person_id for m in messages}))
        ).all()
    )
    return render_template(
        "console/notifications.html", actor=actor, messages=messages, names=names,
        kind_labels=KIND_LABELS,
    )
