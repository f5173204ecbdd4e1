"""Acting on one ticket for residents and staff: open it, me-too, feedback, staff actions."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from webapp.errors import Conflict, Forbidden, InvalidTransition, NotFound
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.tickets import access, ladder, wishes
from webapp.tickets.models import OPEN_STATUSES, MeToo, Ticket
from webapp.tickets.state_machine import (
    STAFF_ACTIONS,
    Action,
    ActionInput,
    may_act,
    transition,
)

# The staff actions in the order a page offers them.
ACTION_ORDER = (
    Action.ACCEPT, Action.RESOLVE, Action.DISPATCH, Action.REASSIGN, Action.ESCALATE,
    Action.RETURN, Action.MERGE, Action.REJECT,
)


def _not_found() -> NotFound:
    return NotFound("未找到该工单", code="ticket_not_found")


def visible_ticket(actor: Actor, ticket_id: str) -> Ticket:
    """The ticket if the actor may see it; NotFound otherwise (never reveal it exists)."""
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None or not access.can_view_ticket(actor, ticket):
        raise _not_found()
    return ticket


def say_me_too(actor: Actor, ticket_id: str) -> Ticket:
    """Add one voice to an open report (once per person; saying it again changes nothing).

    Raises NotFound for a wish, a held-back report or an unknown id, InvalidTransition for a
    closed one, Conflict for the reporter's own report.
    """
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None or ticket.kind is not wishes.PUBLIC_KIND or ticket.needs_review:
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


def ticket_in_scope(actor: Actor, ticket_id: str) -> Ticket:
    """A ticket the staff member's scope covers (the console's pages, the staff actions).
    Residents get Forbidden, any other ticket NotFound."""
    if not actor.is_staff:
        raise Forbidden("居民不能处理工单", code="staff_only")
    ticket = db.session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None or not access.in_staff_scope(actor, ticket):
        raise _not_found()
    return ticket


def available_actions(actor: Actor, ticket: Ticket) -> list[Action]:
    """The staff actions this person may take on this ticket now, in ACTION_ORDER: asked of
    the state machine's own checks (state_machine.may_act), never a copy of them."""
    return [action for action in ACTION_ORDER if may_act(actor, ticket, action)]


def escalation_target(actor: Actor, ticket: Ticket) -> str | None:
    """The rung an escalation by this person would take the ticket to (ladder.LADDER's
    code), or None if they may not escalate it."""
    if not may_act(actor, ticket, Action.ESCALATE):
        return None
    return ladder.next_level(ticket, actor)


def ticket_id_by_number(value: str) -> str:
    """The id of the ticket with this number (a merge's target typed by a person), else the
    value itself (an id): whether it may be merged into is the state machine's to judge."""
    value = (value or "").strip()
    found = db.session.scalar(select(Ticket.id).where(Ticket.number == value.upper())) if value else None
    return found or value


def act_on_ticket(actor: Actor, ticket_id: str, action: str, given: ActionInput) -> Ticket:
    """A staff action from the work API or the console. Residents get 403, tickets out of
    scope 404."""
    ticket = ticket_in_scope(actor, ticket_id)
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
