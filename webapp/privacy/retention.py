"""Retention: what `flask privacy purge` removes from tickets closed long ago.

A ticket closed (确认办结, 自动办结), rejected or merged more than PERSONAL_DATA_RETENTION_DAYS
ago (default 365) keeps its row, number, kind, category, places, times, status, deadlines,
rating, counters, flags (anonymous, rider) and events: everything the figures count
(webapp/figures/compute.py reads no field removed here). It loses:

- who reported it: reporter_id and reporter_key (an anonymous wish's keyed hash);
- the contact phone (sealed value and lookup hash) and the rating comment;
- a wish's text (replaced by REMOVED_TEXT); phone numbers written into a report's text or an
  event's note (replaced by REDACTED_PHONE); the reporter's link on their own events (actor_id
  of the resident, rider or reporter roles);
- its photos (ticket and events: photo_ids emptied; the rows and files are deleted by the
  caller through webapp.tickets.photos, which owns the storage);
- the me-too rows that say who else had the problem (me_too_count stays), and the submission's
  idempotency record.

Plain UPDATEs on the tables: a ticket's version and updated_at do not change (this is not a
step of its life). A batch is a range of ids in key order, so one run reads the table once; a
ticket already purged is not selected again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update

from webapp.extensions import db
from webapp.registry.models import TicketKind
from webapp.tickets.models import IdempotencyRecord, MeToo, Ticket, TicketEvent, TicketStatus

REMOVED_TEXT = "（已超过保存期限，内容已删除）"
REDACTED_PHONE = "[号码已删除]"
BATCH = 500
FINISHED = (TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.MERGED)
# The roles a resident's own events are recorded with (webapp.tickets.state_machine).
REPORTER_ROLES = ("resident", "rider", "reporter")
# Mainland mobile numbers (with +86 or not) and landlines with their area code.
PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")

_tickets = Ticket.__table__
_events = TicketEvent.__table__


def redact_phones(text: str | None) -> str | None:
    """The text with every phone number in it replaced by REDACTED_PHONE."""
    if not text:
        return text
    return PHONE_IN_TEXT.sub(REDACTED_PHONE, text)


def cutoff_of(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def _has_personal_data():
    return or_(
        _tickets.c.reporter_id.is_not(None),
        _tickets.c.reporter_key.is_not(None),
        _tickets.c.contact_phone.is_not(None),
        _tickets.c.rating_comment.is_not(None),
        and_(_tickets.c.kind == TicketKind.WISH, _tickets.c.description != REMOVED_TEXT),
    )


@dataclass(frozen=True)
class PurgedBatch:
    ticket_ids: list[str]
    last_id: str | None  # where the next batch starts (None: the table is done)


def purge_batch(cutoff: datetime, after: str = "", *, limit: int = BATCH) -> PurgedBatch:
    """Remove the personal fields of the next `limit` tickets (ids after `after`, in order)
    that finished before `cutoff` and still hold any. Flushes; the caller deletes their
    photos (webapp.tickets.photos) and commits."""
    candidates = list(db.session.execute(
        select(_tickets.c.id, _tickets.c.kind, _tickets.c.description)
        .where(
            _tickets.c.id > after,
            _tickets.c.status.in_(FINISHED),
            _tickets.c.closed_at < cutoff,
            _has_personal_data(),
        )
        .order_by(_tickets.c.id)
        .limit(limit)
    ))
    if not candidates:
        return PurgedBatch([], None)
    ids = [row.id for row in candidates]
    db.session.execute(
        update(_tickets).where(_tickets.c.id.in_(ids)).values(
            reporter_id=None, reporter_key=None, contact_phone=None, contact_phone_hash=None,
            rating_comment=None, photo_ids=[], updated_at=_tickets.c.updated_at,
        )
    )
    for row in candidates:
        text = REMOVED_TEXT if row.kind in (TicketKind.WISH, TicketKind.WISH.value) else redact_phones(row.description)
        if text != row.description:
            db.session.execute(update(_tickets).where(_tickets.c.id == row.id).values(
                description=text, updated_at=_tickets.c.updated_at))
    db.session.execute(
        update(_events)
        .where(_events.c.ticket_id.in_(ids), _events.c.actor_role.in_(REPORTER_ROLES))
        .values(actor_id=None)
    )
    db.session.execute(update(_events).where(_events.c.ticket_id.in_(ids)).values(photo_ids=[]))
    for event_id, note in db.session.execute(
        select(_events.c.id, _events.c.note).where(_events.c.ticket_id.in_(ids), _events.c.note.is_not(None))
    ).all():
        redacted = redact_phones(note)
        if redacted != note:
            db.session.execute(update(_events).where(_events.c.id == event_id).values(note=redacted))
    db.session.execute(delete(MeToo).where(MeToo.ticket_id.in_(ids)))
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.ticket_id.in_(ids)))
    db.session.flush()
    # The session may hold some of these tickets: what it holds is stale now.
    db.session.expire_all()
    return PurgedBatch(ids, ids[-1] if len(ids) == limit else None)
