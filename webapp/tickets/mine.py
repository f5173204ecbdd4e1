"""My tickets: a reporter's reports and wishes, newest first, anonymous wishes included."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from webapp.extensions import db
from webapp.pagination import newest_first, page
from webapp.people.actors import Actor
from webapp.tickets.models import Ticket
from webapp.tickets.presenter import TicketPresenter
from webapp.tickets.wishes import author_keys


def my_tickets_query(actor: Actor):
    """My reports and wishes, including my anonymous wishes: those whose secrets I present
    (Actor.wish_secrets) and those of before migration 0007, found by the keyed hash of my id
    (by any key it may have been made with: the current one, before a rotation, before keys
    were derived)."""
    return select(Ticket).where(
        or_(Ticket.reporter_id == actor.person_id, Ticket.reporter_key.in_(author_keys(actor)))
    )


def my_tickets_page(actor: Actor, *, cursor: tuple[datetime, str] | None, limit: int) -> dict:
    """One page of my tickets, newest first: {"items": summaries, "next_cursor"}."""
    query = newest_first(my_tickets_query(actor), Ticket.created_at, Ticket.id, cursor, limit)
    rows, next_cursor = page(list(db.session.scalars(query)), limit, lambda t: (t.created_at, t.id))
    return {"items": TicketPresenter(actor).summaries(rows), "next_cursor": next_cursor}
