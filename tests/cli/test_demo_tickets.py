"""flask demo setup files a few sample tickets through the API's own functions, once."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from webapp.extensions import db
from webapp.tickets.models import Ticket, TicketEvent


def test_the_demo_has_tickets_in_several_states_and_adds_none_on_a_rerun(app_ctx, runner):
    first = runner.invoke(args=["demo", "setup"])
    assert first.exit_code == 0, first.output
    assert "新建示例工单 6 个" in first.output
    statuses = Counter(t.status.value for t in db.session.scalars(select(Ticket)))
    assert statuses == {"dispatched": 3, "accepted": 1, "resolved": 1, "closed": 1}
    closed = db.session.scalars(select(Ticket).where(Ticket.status == "closed")).one()
    assert closed.rating == 5
    actions = [e.action for e in db.session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == closed.id).order_by(TicketEvent.at, TicketEvent.id))]
    assert actions == ["submit", "accept", "resolve", "confirm"]
    wish = db.session.scalars(select(Ticket).where(Ticket.kind == "wish")).one()
    assert wish.is_anonymous and wish.reporter_id is None

    again = runner.invoke(args=["demo", "setup"])
    assert again.exit_code == 0 and "示例工单" not in again.output
    assert db.session.scalar(select(db.func.count()).select_from(Ticket)) == 6
