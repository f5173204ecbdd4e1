"""The wish box (心语心愿): a separate inbox for wish readers; anonymous wishes show no identity.

Only wish readers read wishes (webapp.tickets.wishes): their inbox is their work queue's wishes
(webapp.tickets.queue, kind="wish"), each linking to the ticket page where it is answered. An
anonymous wish shows "匿名" and nothing of its author; a named one its author's name. An admin
who is not a wish reader sees the number of wishes per community, never their content.
Everyone else gets the 403 page (the menu shows them no wish box).
"""
from __future__ import annotations

from flask import abort, render_template, request
from sqlalchemy import func, select

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import Forbidden
from webapp.extensions import db
from webapp.pagination import decode_cursor
from webapp.people.actors import Actor
from webapp.people.models import Person
from webapp.privacy import access
from webapp.registry.models import Community, TicketKind
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.queue import queue_page

PAGE = 50
STATUSES = ("open", "pending", "dispatched", "accepted", "resolved", "closed", "rejected", "merged")


def _authors(items: list[dict]) -> dict[str, str]:
    """The names of the authors of the named wishes listed (an anonymous one has none)."""
    ids = [t["id"] for t in items if not t["anonymous"]]
    if not ids:
        return {}
    return dict(db.session.execute(
        select(Ticket.id, Person.name).join(Person, Person.id == Ticket.reporter_id)
        .where(Ticket.id.in_(ids), Ticket.is_anonymous.is_(False))
    ).all())


def _counts_by_community() -> list[tuple[str, int, int]]:
    """(community, open wishes, all wishes) for an admin: counts only, never content."""
    open_statuses = [TicketStatus.PENDING, TicketStatus.DISPATCHED, TicketStatus.ACCEPTED, TicketStatus.RESOLVED]
    rows = db.session.execute(
        select(
            Community.name,
            func.count(Ticket.id).filter(Ticket.status.in_(open_statuses)),
            func.count(Ticket.id),
        )
        .join(Community, Community.id == Ticket.community_id)
        .where(Ticket.kind == TicketKind.WISH)
        .group_by(Community.name)
        .order_by(Community.name)
    ).all()
    return [tuple(r) for r in rows]


@bp.get("/wishes")
@staff_required
def wishes(actor: Actor):
    if not actor.wish_community_ids and not actor.is_admin:
        raise Forbidden("心语心愿仅限本社区心语心愿处理人查看")
    if not actor.wish_community_ids:  # an admin: counts only
        return render_template("console/wishes.html", items=[], counts=_counts_by_community(), reader=False,
                               status="open", authors={}, next_cursor=None)
    status = request.args.get("status") or "open"
    if status not in STATUSES:
        abort(400)
    try:
        after = decode_cursor(request.args["cursor"]) if request.args.get("cursor") else None
        listed = queue_page(actor, cursor=after, limit=PAGE, status=status, kind=TicketKind.WISH.value)
    except ValueError:
        abort(400)
    items = listed["items"]
    if access.tickets_listed(actor, items, door="console", address=request.remote_addr, names_shown=True):
        db.session.commit()  # the access log: the wishes' texts and their authors' names
    return render_template(
        "console/wishes.html", items=items, authors=_authors(items), reader=True, counts=[],
        status=status, statuses=STATUSES, next_cursor=listed["next_cursor"],
    )
