"""The console's pages behind the sign-in: the queue, a ticket, notifications, sign PDFs."""
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


@bp.get("/signs")
@staff_required
def signs_index(actor: Actor):
    streets = db.session.scalars(select(Street).order_by(Street.code)).all()
    communities = db.session.scalars(select(Community).order_by(Community.code)).all()
    allowed = [c for c in communities if actor.supervises_community(c.id, c.street_id)]
    return render_template(
        "console/signs.html", actor=actor, communities=allowed,
        streets=[s for s in streets if actor.supervises_street(s.id)],
    )


@bp.get("/signs.pdf")
@staff_required
def signs_pdf(actor: Actor):
    """The printable sign PDF of one community (or street), written to a temporary file."""
    community_code = request.args.get("community")
    street_code = request.args.get("street")
    if community_code:
        community = db.session.scalars(select(Community).where(Community.code == community_code)).first()
        if community is None or not actor.supervises_community(community.id, community.street_id):
            abort(404)
    elif street_code:
        street = db.session.scalars(select(Street).where(Street.code == street_code)).first()
        if street is None or not actor.supervises_street(street.id):
            abort(404)
    spool = tempfile.TemporaryFile()
    try:
        signs.write_signs(spool, street_code=street_code, community_code=community_code)
    except DomainError as error:
        spool.close()
        return render_template("error.html", status=error.status, message=error.message), error.status
    spool.seek(0)
    name = f"公示牌-{community_code or street_code}.pdf"
    return send_file(spool, mimetype="application/pdf", download_name=name, as_attachment=True)
