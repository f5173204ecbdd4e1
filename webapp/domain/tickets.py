"""Reading and acting on tickets on behalf of residents and staff."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, bindparam, or_, select, text, tuple_, union
from sqlalchemy.dialects import postgresql
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


def work_queue_query(actor: Actor, *, status=None, overdue=None, category=None, kind=None):
    """The tickets in the caller's scope, decided by the server from their roles: one
    condition for the whole scope (counts, any order). A page of the queue newest first is
    read part by part instead: work_queue_bound / work_queue_page_bound."""
    _check_staff(actor)
    filters = _queue_filters(status, overdue, category or None, kind, paged=False)
    return select(Ticket).where(access.staff_scope_clause(actor), *filters)


# A page of the queue as a statement to keep and reuse: work_queue_bound() gives the shape of
# the caller's page (the kinds of their scope's parts and the filters used) and the values of
# its bind parameters; work_queue_page_bound(shape, columns) selects, with those parameters,
# at most limit + 1 tickets per part of the scope after the cursor, newest first: each part
# is read by an ordered index scan that stops there (the open-ticket partial indexes), and
# the newest limit + 1 of their union (a ticket in two parts once) are the page. Every grid
# worker's first page is one statement, built once.
ROWS = "rows"  # the bind parameter of the number of rows to read: the page's size + 1


def work_queue_bound(
    actor: Actor,
    *,
    cursor: tuple[datetime, str] | None,
    limit: int,
    status=None,
    overdue=None,
    category=None,
    kind=None,
) -> tuple[tuple, dict]:
    """(shape, parameters) of work_queue_page_bound for this page of the caller's queue."""
    _check_staff(actor)
    parts = access.scope_part_values(actor)
    params: dict = {ROWS: limit + 1}
    for index, (part, value) in enumerate(parts):
        if part == "matrix":
            params[f"part{index}"], params[f"part{index}_grids"] = value[0], list(value[1])
        elif part != "all":
            params[f"part{index}"] = value
    if cursor:
        params["cursor_at"], params["cursor_id"] = cursor
    if category:
        params["category"] = category
    status = "open" if status in (None, "open") else TicketStatus(status).value
    kind = TicketKind(kind).value if kind else None
    # On PostgreSQL a matrix part's grids are one array parameter: a professional answers for
    # a category in every grid (105 here), and as many parameters would be rendered into the
    # statement on every execution and keep it out of psycopg's cache (at most 50).
    arrays = db.session.get_bind().dialect.name == "postgresql"
    shape = (tuple(part for part, _ in parts), status, overdue, bool(category), kind, bool(cursor), arrays)
    return shape, params


def work_queue_page_bound(shape: tuple, columns):
    """The tickets of a page, newest first, as `columns` (of Ticket, with created_at and id),
    for every page of this shape (work_queue_bound), values left to bind parameters; the bind
    parameter ROWS is the number of rows to read."""
    part_kinds, status, overdue, category, kind, cursor, arrays = shape
    parts = []
    for index, part in enumerate(part_kinds):
        if part == "matrix":
            grids = (
                bindparam(f"part{index}_grids", type_=postgresql.ARRAY(Integer()))
                if arrays
                else bindparam(f"part{index}_grids", expanding=True)
            )
            value = (bindparam(f"part{index}"), grids)
        else:
            value = None if part == "all" else bindparam(f"part{index}")
        parts.append((part, value))
    filters = _queue_filters(status, overdue, bindparam("category") if category else None, kind, paged=True)
    if cursor:
        cursor = (
            bindparam("cursor_at", type_=Ticket.created_at.type),
            bindparam("cursor_id", type_=Ticket.id.type),
        )
    return _queue_page(parts, cursor or None, bindparam(ROWS, type_=Integer()), filters, columns)


def _queue_page(parts: list[tuple[str, object]], cursor, rows, filters: list, columns):
    """The newest `rows` tickets after the cursor among the newest `rows` of each part."""
    if cursor:
        filters = [*filters, tuple_(Ticket.created_at, Ticket.id) < tuple_(*cursor)]
    newest = (Ticket.created_at.desc(), Ticket.id.desc())
    selects = [
        select(*columns).where(access.scope_part_condition(part, value), *filters).order_by(*newest).limit(rows)
        for part, value in parts
    ]
    if len(selects) == 1:
        return selects[0]
    # Each part as a subquery (SQLite allows no LIMIT in a compound's members); UNION, not
    # UNION ALL: a ticket in two parts (the worker's grid and assigned to them) shows once.
    merged = union(*(select(*part.subquery().c) for part in selects)).subquery()
    return select(*merged.c).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(rows)


def _check_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("仅工作人员可以查看工作台", code="staff_only")


def _queue_filters(status, overdue, category, kind, *, paged: bool) -> list:
    """The conditions of the queue's filters (status defaults to the open ones); category is
    a code (or a bind parameter of one), None for any."""
    filters = []
    if status in (None, "open"):
        # Literal constants when listing by parts: the partial indexes are used only then.
        filters.append(text(OPEN_SQL) if paged else Ticket.status.in_(OPEN_STATUSES))
    else:
        filters.append(Ticket.status == TicketStatus(status))
    if overdue is not None:
        filters.append(Ticket.is_overdue.is_(overdue))
    if category is not None:
        # The category's id by its code, in the same statement (an unknown code matches none).
        filters.append(
            Ticket.category_id == select(Category.id).where(Category.code == category).scalar_subquery()
        )
    if kind:
        filters.append(Ticket.kind == TicketKind(kind))
    return filters
