"""Who may see a ticket: one rule, used by every door (API, phone page, photos, console).

The rule has two forms that must agree, side by side here: the Python check of one ticket
(in_staff_scope, can_view_ticket) and the SQL condition over the tickets table
(staff_scope_clause for the whole scope; scope_part_values + scope_part_condition for the
queue, which reads each part of a scope on its own index). tests/tickets/test_access.py checks
that they agree on every pair of a generated population of staff and tickets.

- A report is seen by its reporter, by people who said me-too (never the reporter's
  identity), and by staff whose scope covers it: the grid worker of its grid, the
  professional answering for its grid × category, the community and street staff above it,
  an admin, and whoever holds it.
- A wish is seen by its author and by the wish readers of its community only (wishes.py).
"""
from __future__ import annotations

from sqlalchemy import ARRAY, and_, any_, false, or_, select, true

from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry.models import TicketKind
from webapp.tickets import wishes
from webapp.tickets.models import MeToo, Ticket


def is_reporter(actor: Actor, ticket: Ticket) -> bool:
    """Whether the actor wrote the ticket (an anonymous wish's author too, by its keyed hash)."""
    return wishes.is_author(actor, ticket)


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
    return or_(reports, wishes.reader_clause(actor))


def in_staff_scope(actor: Actor, ticket: Ticket) -> bool:
    if not actor.is_staff:
        return False
    if ticket.kind is TicketKind.WISH:
        return wishes.is_reader(actor, ticket)
    return (
        actor.is_admin
        or ticket.street_id in actor.street_ids
        or ticket.community_id in actor.community_ids
        or ticket.grid_id in actor.grid_ids
        or (ticket.grid_id, ticket.category_id) in actor.matrix
        or ticket.assignee_id == actor.person_id
    )


def has_said_me_too(actor: Actor, ticket: Ticket) -> bool:
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
    return ticket.kind is wishes.PUBLIC_KIND and has_said_me_too(actor, ticket)
