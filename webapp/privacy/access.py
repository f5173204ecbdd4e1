"""The access log of personal data: one audit entry per view of it by staff.

Personal data, as staff see it: a wish's text (心语心愿 are private), a reporter's contact phone
in full, a reporter's name, a resident's rating comment, a staff member's own mobile number
(the console's account page; the work phone is printed on signs on purpose). Each door calls
one function per read path (a ticket's page or answer, a list, a person's page), which writes
at most ONE row (trail.record: one INSERT in the caller's transaction; the door commits).
Nothing is written when nothing personal was shown (a report's page without a comment, a list
without wishes), nor for the author's own ticket or one's own page. A full number shown in the
console after a reason is chosen is its own entry (phone_shown, webapp/console/work.py).
"""
from __future__ import annotations

from webapp.audit import trail
from webapp.people.actors import Actor
from webapp.registry.models import TicketKind
from webapp.tickets.models import Ticket
from webapp.tickets.wishes import is_author

WISH_TEXT = "wish_text"
CONTACT_PHONE = "contact_phone"
REPORTER_NAME = "reporter_name"
RATING_COMMENT = "rating_comment"
MOBILE_PHONE = "mobile_phone"


def ticket_viewed(
    actor: Actor, ticket: Ticket, *, door: str, address: str | None, full_phone: bool = False
) -> trail.AuditEntry | None:
    """A staff member saw one ticket: its wish text, its rating comment, and (full_phone) its
    contact phone in full, as far as it has them. Returns the entry, or None when nothing
    personal was shown (or the viewer is not staff, or is its author)."""
    if not actor.is_staff or is_author(actor, ticket):
        return None
    shown = []
    if ticket.kind is TicketKind.WISH:
        shown.append(WISH_TEXT)
    if full_phone and ticket.contact_phone_sealed:
        shown.append(CONTACT_PHONE)
    if ticket.rating_comment:
        shown.append(RATING_COMMENT)
    if not shown:
        return None
    return trail.record(
        trail.Action.PERSONAL_DATA_VIEWED, actor_id=actor.person_id, target_type="ticket",
        target_id=ticket.id, address=address, detail={"shown": shown, "door": door},
    )


def tickets_listed(
    actor: Actor, items: list[dict], *, door: str, address: str | None, names_shown: bool = False
) -> trail.AuditEntry | None:
    """A staff member saw a list of tickets (summaries: "id", "kind"): the wishes among them
    show their text, and with names_shown their authors' names. One entry naming the wishes,
    or None when the list holds none."""
    wish_ids = [item["id"] for item in items if item["kind"] in (TicketKind.WISH, TicketKind.WISH.value)]
    if not actor.is_staff or not wish_ids:
        return None
    shown = [WISH_TEXT, REPORTER_NAME] if names_shown else [WISH_TEXT]
    return trail.record(
        trail.Action.PERSONAL_DATA_VIEWED, actor_id=actor.person_id, target_type="tickets",
        address=address, detail={"shown": shown, "tickets": wish_ids, "door": door},
    )


def person_viewed(
    actor: Actor, person_id: str, *, shown: list[str], door: str, address: str | None
) -> trail.AuditEntry | None:
    """A staff member saw another person's personal data (`shown`, e.g. MOBILE_PHONE on the
    console's account page). None when nothing was shown or it is their own."""
    if not shown or person_id == actor.person_id:
        return None
    return trail.record(
        trail.Action.PERSONAL_DATA_VIEWED, actor_id=actor.person_id, target_type="person",
        target_id=person_id, address=address, detail={"shown": shown, "door": door},
    )
