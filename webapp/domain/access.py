"""Who may see a ticket: one rule, used by every door (API, phone page, photos, console)."""
from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy import ARRAY, and_, any_, false, or_, select, true

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


def _matrix_by_category(actor: Actor) -> dict[int, list[int]]:
    """The actor's matrix pairs as category → its grids (a professional answers for a few
    categories in many grids: one condition per category, not one per pair)."""
    grids: dict[int, list[int]] = {}
    for grid_id, category_id in sorted(actor.matrix):
        grids.setdefault(category_id, []).append(grid_id)
    return grids


def scope_part_values(actor: Actor) -> list[tuple[str, object]]:
    """The parts of a staff member's scope as (kind, value) pairs, in a fixed order: "all"
    (admin, no value), "street", "community", "grid" (an id), "matrix" ((category id, grid
    ids)), "assignee" (the person's id) cover reports; "wish" (a community id) covers wishes.
    Empty for residents. Two actors whose kinds are the same have scopes of the same shape:
    one statement with bind parameters serves both (scope_part_condition)."""
    if not actor.is_staff:
        return []
    parts: list[tuple[str, object]] = [("all", None)] if actor.is_admin else []
    parts += [("street", i) for i in sorted(actor.street_ids)]
    parts += [("community", i) for i in sorted(actor.community_ids)]
    parts += [("grid", i) for i in sorted(actor.grid_ids)]
    parts += [
        ("matrix", (category_id, tuple(grid_ids)))
        for category_id, grid_ids in _matrix_by_category(actor).items()
    ]
    parts.append(("assignee", actor.person_id))
    parts += [("wish", i) for i in sorted(actor.wish_community_ids)]
    return parts


def _part_condition(kind: str, value):
    """The condition of one part, without the ticket kind; value may be bind parameters (for
    "matrix", a category id and grid ids: a list, an expanding parameter, or on PostgreSQL
    one parameter of type ARRAY, compared with = ANY)."""
    if kind == "all":
        return true()
    if kind == "street":
        return Ticket.street_id == value
    if kind in ("community", "wish"):
        return Ticket.community_id == value
    if kind == "grid":
        return Ticket.grid_id == value
    if kind == "matrix":
        category_id, grid_ids = value
        if isinstance(getattr(grid_ids, "type", None), ARRAY):  # one array parameter (PostgreSQL)
            return and_(Ticket.category_id == category_id, Ticket.grid_id == any_(grid_ids))
        return and_(Ticket.category_id == category_id, Ticket.grid_id.in_(grid_ids))
    if kind == "assignee":
        return Ticket.assignee_id == value
    raise ValueError(kind)


def scope_part_condition(kind: str, value):
    """The SQL condition of one part of scope_part_values (value may be bind parameters)."""
    ticket_kind = TicketKind.WISH if kind == "wish" else TicketKind.REPORT
    return and_(Ticket.kind == ticket_kind, _part_condition(kind, value))


def _report_parts(actor: Actor) -> list:
    """The conditions whose OR is the part of the scope that covers reports."""
    return [_part_condition(kind, value) for kind, value in scope_part_values(actor) if kind != "wish"]


def staff_scope_clause(actor: Actor):
    """A SQL condition for the tickets a staff member's scope covers.

    Wishes are read only by wish readers of the ticket's community; reports by the street,
    community and grid staff above them and by whoever holds or answers for them.
    """
    if not actor.is_staff:
        return false()
    reports = and_(Ticket.kind == TicketKind.REPORT, or_(*_report_parts(actor)))
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
