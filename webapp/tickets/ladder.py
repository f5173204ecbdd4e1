"""The escalation ladder (督办/吹哨): grid → community → street → department, in one place.

- A ticket climbs one rung at a time: by hand (Action.ESCALATE, next_level) or by the deadline
  command when it is overdue (overdue_target: to the community at once, to the street after
  ESCALATION_STEP_HOURS more, counted the way its category counts hours).
- The department rung is reached only by hand, by street staff or an admin (吹哨: "the street
  whistles, departments report"), and only for a category that a department owns.
- A wish climbs no higher than wishes.TOP_LEVEL (the community): top_level and its SQL form
  may_reach_clause, side by side.
- Each rung's staff are told when a ticket reaches it (supervisors): the community staff of
  its community, the street staff of its street, the professionals of its category's
  department; for a wish, the community's wish readers.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, true

from webapp.errors import Forbidden, InvalidTransition
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import TicketKind
from webapp.tickets import wishes
from webapp.tickets.deadlines import add_hours
from webapp.tickets.models import Ticket, TicketStatus

LADDER = ("grid", "community", "street", "department")
LEVEL_LABELS = {"grid": "网格", "community": "社区", "street": "街道", "department": "职能部门"}
# The rungs the deadline command climbs by itself; the department is summoned by hand.
AUTOMATIC_LEVELS = ("community", "street")
WHISTLE_ROLES = frozenset({Role.STREET_STAFF.value, Role.ADMIN.value})

UNACCEPTED = (TicketStatus.PENDING, TicketStatus.DISPATCHED)  # the accept deadline runs


def rung(level: str) -> int:
    return LADDER.index(level)


def top_level(ticket: Ticket) -> str:
    """The highest rung this ticket may reach (a wish stops at the community)."""
    return wishes.TOP_LEVEL if ticket.kind is TicketKind.WISH else LADDER[-1]


def may_reach_clause(level: str):
    """SQL form of top_level: the tickets that may climb to `level`."""
    if rung(level) <= rung(wishes.TOP_LEVEL):
        return true()
    return Ticket.kind != TicketKind.WISH


def next_level(ticket: Ticket, actor: Actor | None) -> str:
    """The rung one step up from the ticket's, for an escalation by `actor` (None: the
    deadline command). Raises InvalidTransition at the top, Forbidden for a whistle by
    someone other than street staff or an admin."""
    if rung(ticket.level) >= rung(top_level(ticket)):
        if ticket.kind is TicketKind.WISH:
            raise InvalidTransition("心语心愿只在社区内办理，不能再上报", code="wish_stays_in_community")
        raise InvalidTransition("已上报至职能部门，不能再上报")
    target = LADDER[rung(ticket.level) + 1]
    if target == "department":
        if ticket.category.department_id is None:
            raise InvalidTransition("该类别没有主管部门，无法吹哨")
        if actor is not None and not (actor.roles & WHISTLE_ROLES):
            raise Forbidden("只有街道可以吹哨召集职能部门", code="street_only")
    return target


def overdue_since(ticket: Ticket) -> datetime | None:
    """The deadline the ticket is missing right now (accept while unaccepted, resolve once
    accepted), or None."""
    if ticket.status in UNACCEPTED:
        return ticket.accept_due_at
    if ticket.status is TicketStatus.ACCEPTED:
        return ticket.resolve_due_at
    return None


def overdue_target(ticket: Ticket, now: datetime, step_hours: float) -> str | None:
    """The rung an overdue ticket belongs on now (None: not overdue): the community once a
    deadline is missed, the street step_hours later; never above top_level."""
    since = overdue_since(ticket)
    if since is None or since > now:
        return None
    target = "community"
    if add_hours(since, step_hours, uses_workdays=bool(ticket.category.uses_workdays)) <= now:
        target = "street"
    return target if rung(target) <= rung(top_level(ticket)) else top_level(ticket)


def supervisors(ticket: Ticket) -> list[str]:
    """The people told when the ticket reaches its current rung."""
    if ticket.kind is TicketKind.WISH:
        return wishes.readers_of(ticket.community_id) if ticket.level == wishes.TOP_LEVEL else []
    query = select(StaffAssignment.person_id).distinct()
    if ticket.level == "community":
        query = query.where(
            StaffAssignment.role == Role.COMMUNITY_STAFF,
            StaffAssignment.community_id == ticket.community_id,
        )
    elif ticket.level == "street":
        query = query.where(
            StaffAssignment.role == Role.STREET_STAFF, StaffAssignment.street_id == ticket.street_id
        )
    elif ticket.level == "department" and ticket.category.department_id is not None:
        query = query.where(
            StaffAssignment.role == Role.PROFESSIONAL,
            StaffAssignment.department_id == ticket.category.department_id,
        )
    else:
        return []
    return sorted(db.session.scalars(query))
