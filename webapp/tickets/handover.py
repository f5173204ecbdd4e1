"""Handing back the open tickets of someone who left.

When staff leave (webapp.people.accounts.deactivate), each ticket they hold and have not yet
resolved (dispatched or accepted) goes back to its community's dispatch queue: no assignee,
status pending, through the state machine's `unassign` action, so each gets its event
("人员离岗，退回派单") on its timeline. The deadlines keep running from the first dispatch.
A resolved ticket stays as it is: it waits for its reporter, not for its handler.

The console calls people.accounts.deactivate, then release_tickets_of, in one transaction.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.state_machine import Action, ActionInput, transition

HELD = (TicketStatus.DISPATCHED, TicketStatus.ACCEPTED)


def release_tickets_of(person_id: str, actor: Actor | None, *, now: datetime | None = None) -> list[Ticket]:
    """Send every dispatched or accepted ticket this person holds back to the dispatch queue,
    oldest first, each with its `unassign` event by `actor` (None: the system); returns them.
    Flushes, never commits."""
    tickets = db.session.scalars(
        select(Ticket)
        .where(Ticket.assignee_id == person_id, Ticket.status.in_(HELD))
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
    for ticket in tickets:
        transition(ticket, Action.UNASSIGN, actor, ActionInput(), now=now)
    return list(tickets)


def held_count(person_id: str) -> int:
    """How many tickets release_tickets_of would hand back now (the confirmation page)."""
    return db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.assignee_id == person_id, Ticket.status.in_(HELD))
    ) or 0
