"""Reading and acting on tickets on behalf of residents and staff."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, text, tuple_, union_all
from sqlalchemy.orm.exc import StaleDataError

from webapp.domain import access
from webapp.domain.actors import Actor
from webapp.domain.workflow import STAFF_ACTIONS, Action, ActionInput, transition
from webapp.errors import Conflict, Forbidden, InvalidTransition, NotFound
from webapp.extensions import db
from webapp.models import (
    OPEN_STATUSES,
    Category,
    MeToo,
    Ticket,
    TicketKind,
    TicketStatus,
)
from webapp.models.tickets import OPEN_SQL


def _not_found() -> NotFound:
    return NotFound("未找到该工单", code="ticket_not_found")


def visible_ticket(actor: Actor, ticket_id: str) -> Ticket:
    """The ticket if the actor may see it; NotFound otherwise (never reveal it exists)."""
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None or not access.can_view_ticket(actor, ticket):
        raise _not_found()
    return ticket


def my_tickets_query(actor: Actor):
    """My reports and wishes, including anonymous wishes found by their keyed hash."""
    return select(Ticket).where(
        or_(Ticket.reporter_id == actor.person_id, Ticket.reporter_key == access.reporter_key(actor.person_id))
    )


def say_me_too(actor: Actor, ticket_id: str) -> Ticket:
    """Add one voice to an open report (once per person; saying it again changes nothing).

    Raises NotFound for a wish, a held-back report or an unknown id, InvalidTransition for a
    closed one, Conflict for the reporter's own report.
    """
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None or ticket.kind is not TicketKind.REPORT or ticket.needs_review:
        raise _not_found()
    if access.is_reporter(actor, ticket):
        raise Conflict("这是您自己反映的问题", code="own_ticket")
    if ticket.status not in OPEN_STATUSES:
        raise InvalidTransition("该问题已办结，无需再反映", code="ticket_closed")
    if access.has_said_me_too(actor, ticket):
        return ticket
    db.session.add(MeToo(ticket_id=ticket.id, person_id=actor.person_id))
    # A plain UPDATE counter = counter + 1: concurrent me-toos never lose a count.
    db.session.execute(
        Ticket.__table__.update()
        .where(Ticket.id == ticket.id)
        .values(me_too_count=Ticket.me_too_count + 1)
    )
    db.session.flush()
    db.session.refresh(ticket)
    return ticket


def give_feedback(
    actor: Actor, ticket_id: str, *, resolved: bool, rating: int, comment: str | None
) -> Ticket:
    """The reporter confirms and rates a resolved ticket, or says it is not fixed (reopen)."""
    ticket = visible_ticket(actor, ticket_id)
    action = Action.CONFIRM if resolved else Action.REOPEN
    _apply(ticket, action, actor, ActionInput(rating=rating, comment=comment))
    return ticket


def act_on_ticket(actor: Actor, ticket_id: str, action: str, given: ActionInput) -> Ticket:
    """A staff action from the work API. Residents get 403, tickets out of scope 404."""
    if not actor.is_staff:
        raise Forbidden("居民不能处理工单", code="staff_only")
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None or not access.in_staff_scope(actor, ticket):
        raise _not_found()
    chosen = Action(action)
    if chosen not in STAFF_ACTIONS:
        raise Forbidden()
    _apply(ticket, chosen, actor, given)
    return ticket


def _apply(ticket: Ticket, action: Action, actor: Actor, given: ActionInput) -> None:
    try:
        transition(ticket, action, actor, given)
    except StaleDataError:
        db.session.rollback()
        raise Conflict("工单已被他人处理，请刷新后查看", code="stale_version") from None


def work_queue_query(
    actor: Actor,
    *,
    status=None,
    overdue=None,
    category=None,
    kind=None,
    page: tuple[tuple[datetime, str] | None, int] | None = None,
):
    """The tickets in the caller's scope, decided by the server from their roles.

    With page=(cursor, limit), for a list newest first (created_at, id descending) after the
    decoded cursor: the scope is read part by part (access.staff_scope_parts), each part by an
    ordered index scan that stops after limit + 1 rows (the open-ticket partial indexes), and
    the query selects the tickets among those ids; the caller still orders, continues after
    the cursor and limits (pagination.newest_first). Without page: one condition for the
    whole scope (counts, other orders).
    """
    if not actor.is_staff:
        raise Forbidden("仅工作人员可以查看工作台", code="staff_only")
    filters = []
    if status in (None, "open"):
        # Literal constants when listing by parts: the partial indexes are used only then.
        filters.append(text(OPEN_SQL) if page is not None else Ticket.status.in_(OPEN_STATUSES))
    else:
        filters.append(Ticket.status == TicketStatus(status))
    if overdue is not None:
        filters.append(Ticket.is_overdue.is_(overdue))
    if category:
        category_id = db.session.scalars(select(Category.id).where(Category.code == category)).first()
        filters.append(Ticket.category_id == category_id)
    if kind:
        filters.append(Ticket.kind == TicketKind(kind))
    if page is None:
        return select(Ticket).where(access.staff_scope_clause(actor), *filters)
    cursor, limit = page
    if cursor:
        filters.append(tuple_(Ticket.created_at, Ticket.id) < tuple_(*cursor))
    parts = [
        select(Ticket.id)
        .where(part, *filters)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit + 1)
        .subquery()
        for part in access.staff_scope_parts(actor)
    ]
    ids = union_all(*(select(part.c.id) for part in parts)) if len(parts) > 1 else select(parts[0].c.id)
    return select(Ticket).where(Ticket.id.in_(ids))
