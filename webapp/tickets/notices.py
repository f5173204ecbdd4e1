"""Who hears about a ticket's change: the outbox messages each transition writes.

on_transition() is called by state_machine.transition after every change, in the same transaction,
so a notice exists exactly when its change does.

| action                                   | who                             | kind             |
|------------------------------------------|---------------------------------|------------------|
| submit, dispatch, reassign, reopen,      | the new assignee                | ticket_dispatched |
| return (to the community head)           |                                 |                  |
| resolve                                  | the reporter                    | ticket_resolved  |
| reject / merge                           | the reporter, with the reason   | ticket_rejected / ticket_merged |
| auto_close                               | the reporter                    | ticket_closed    |
| confirm, auto_close                      | the me-too followers            | follower_closed  |
| escalate                                 | the new rung's staff (ladder.py) | ticket_escalated |

Nobody is told about their own action. A return to the community queue tells no one in
particular (the queue is a list the community staff look at).

Anonymous wishes: the author has no person link (reporter_id is NULL, only a keyed hash in
reporter_key), so there is nobody to push to. They see every answer under "mine" (found again
by the hash when they log in) but get no subscribe message. Keeping a push address would be a
link back to them, which is what anonymity promises not to keep.
"""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.notifications.outbox import enqueue
from webapp.tickets import ladder
from webapp.tickets.models import MeToo, Ticket, TicketEvent

NEW_TICKET = "您有新的工单，请及时处理"
REOPENED = "居民反馈未解决，请重新处理"
RESOLVED = "已处理完毕，请确认并评价"
CLOSED = "工单已办结，感谢您的反映"
FOLLOWER_CLOSED = "您关注的问题已办结"

ASSIGNEE_ACTIONS = {"submit", "dispatch", "reassign", "reopen", "return"}


def on_transition(ticket: Ticket, event: TicketEvent) -> None:
    """Write the outbox messages for one transition (flushed with it, never committed here)."""
    action = event.action
    now = event.at
    actor_id = event.actor_id
    notice = assignee_notice(ticket, event)
    if notice is not None:
        person_id, kind, note = notice
        _tell(person_id, kind, ticket, note, now, actor_id)
    elif action == "resolve":
        _tell(ticket.reporter_id, "ticket_resolved", ticket, RESOLVED, now, actor_id)
    elif action == "reject":
        _tell(ticket.reporter_id, "ticket_rejected", ticket, _reject_note(event), now, actor_id)
    elif action == "merge":
        _tell(ticket.reporter_id, "ticket_merged", ticket, _merge_note(ticket), now, actor_id)
    elif action == "auto_close":
        _tell(ticket.reporter_id, "ticket_closed", ticket, CLOSED, now, actor_id)
    elif action == "escalate":
        note = event.note or "工单已上报，请督办"
        for person_id in ladder.supervisors(ticket):
            enqueue_once = f"escalated:{ticket.id}:{ticket.level}:{person_id}"
            if person_id != actor_id:
                enqueue(
                    person_id,
                    "ticket_escalated",
                    ticket=ticket,
                    data={"note": note},
                    dedupe_key=enqueue_once,
                    now=now,
                )
    if action in {"confirm", "auto_close"}:
        for person_id in followers(ticket):
            if person_id not in (ticket.reporter_id, actor_id):
                _tell(person_id, "follower_closed", ticket, FOLLOWER_CLOSED, now, actor_id)


def assignee_notice(ticket: Ticket, event: TicketEvent) -> tuple[str, str, str] | None:
    """(person, kind, note) of the notice to the ticket's new holder after a submit, dispatch,
    reassign, reopen or return to a person, or None (another action, or nobody holds it).
    Submission's fast path writes it itself (outbox.message_row) with the ticket's row."""
    if event.action not in ASSIGNEE_ACTIONS or not ticket.assignee_id:
        return None
    if ticket.assignee_id == event.actor_id:
        return None  # nobody is told about their own action
    return ticket.assignee_id, "ticket_dispatched", REOPENED if event.action == "reopen" else NEW_TICKET


def _tell(person_id, kind, ticket, note, now, actor_id) -> None:
    if person_id and person_id != actor_id:
        enqueue(person_id, kind, ticket=ticket, data={"note": note}, now=now)


def _reject_note(event: TicketEvent) -> str:
    from webapp.tickets.state_machine import REJECT_REASONS

    reason = REJECT_REASONS.get(event.reason or "", "")
    return "：".join(part for part in (f"未受理，{reason}" if reason else "未受理", event.note) if part)


def _merge_note(ticket: Ticket) -> str:
    target = db.session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
    return f"重复反映，已合并到{target.number}" if target is not None else "重复反映，已合并办理"


def followers(ticket: Ticket) -> list[str]:
    """People who said me-too on this ticket."""
    return list(db.session.scalars(select(MeToo.person_id).where(MeToo.ticket_id == ticket.id)))
