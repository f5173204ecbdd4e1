"""Who may see a ticket: one rule, used by every door (API, phone page, photos, console)."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import and_, false, or_, select, true

from webapp.domain.actors import Actor
from webapp.extensions import db
from webapp.models import Ticket, TicketKind


def reporter_key(person_id: str) -> str:
    """A keyed hash that lets a person find their anonymous wish without storing who they are."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"reporter:{person_id}".encode(), hashlib.sha256).hexdigest()


def is_reporter(actor: Actor, ticket: Ticket) -> bool:
    if ticket.reporter_id is not None:
        return ticket.reporter_id == actor.person_id
    return ticket.reporter_key is not None and hmac.compare_digest(
        ticket.reporter_key, reporter_key(actor.person_id)
    )


def staff_scope_clause(actor: Actor):
    """A SQL condition for the tickets a staff member's scope covers.

    Wishes are read only by wish readers of the ticket's community; reports by the street,
    community and grid staff above them and by whoever holds or answers for them.
    """
    if not actor.is_staff:
        return false()
    report_parts = []
    if actor.is_admin:
        report_parts.append(true())
    if actor.street_ids:
        report_parts.append(Ticket.street_id.in_(actor.street_ids))
    if actor.community_ids:
        report_parts.append(Ticket.community_id.in_(actor.community_ids))
    if actor.grid_ids:
        report_parts.append(Ticket.grid_id.in_(actor.grid_ids))
    for grid_id, category_id in actor.matrix:
        report_parts.append(and_(Ticket.grid_id == grid_id, Ticket.category_id == category_id))
    report_parts.append(Ticket.assignee_id == actor.person_id)
    reports = and_(Ticket.kind == TicketKind.REPORT, or_(*report_parts))
    if not actor.wish_community_ids:
        return reports
    wishes = and_(
        Ticket.kind == TicketKind.WISH, Ticket.community_id.in_(actor.wish_community_ids)
    )
    return or_(reports, wishes)


def in_staff_scope(actor: Actor, ticket: Ticket) -> bool:
    if not actor.is_staff:
        return False
    if ticket.kind is TicketKind.WISH:
        return ticket.community_id in actor.wish_community_ids
    return (
        actor.is_admin
        or ticket.street_id in actor.street_ids
        or ticket.community_id in actor.community_ids
        or ticket.grid_id in actor.grid_ids
        or (ticket.grid_id, ticket.category_id) in actor.matrix
        or ticket.assignee_id == actor.person_id
    )


def has_said_me_too(actor: Actor, ticket: Ticket) -> bool:
    from webapp.models.tickets import MeToo

    return (
        db.session.execute(
            select(MeToo.id).where(MeToo.ticket_id == ticket.id, MeToo.person_id == actor.person_id)
        ).first()
        is not None
    )


def can_view_ticket(actor: Actor, ticket: Ticket) -> bool:
    """The reporter, staff whose scope covers it, and (reports only) people who said me-too."""
    if is_reporter(actor, ticket) or in_staff_scope(actor, ticket):
        return True
    return ticket.kind is TicketKind.REPORT and has_said_me_too(actor, ticket)
