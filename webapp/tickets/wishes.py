"""Wish privacy (心语心愿), in one place.

A wish is private by default:
- it is never listed publicly: the scan's open tickets and me-too are for reports only
  (PUBLIC_KIND);
- a new wish goes to its community's first wish reader at work (routing.py, RULE_WISH_READER),
  or waits in the community's queue;
- it is read and handled only by the wish readers (心语心愿处理人) of its community: is_reader
  (Python) and reader_clause (SQL) below, side by side; who-sees-what (access.py) takes the
  wish part of a staff member's scope from here;
- an anonymous wish keeps no link to its author (author_columns): no reporter id, no contact
  phone, no actor on the author's own events (hides_actor), no uploader on its photos
  (submission claims them with forget_uploader); only a keyed hash (reporter_key) lets the
  author find it under "mine". So nobody can push a notice to the author either;
- an overdue wish climbs the ladder only as far as TOP_LEVEL (the community), where its
  handlers are the community's wish readers (readers_of): street staff and departments never
  receive a wish's content (they see wishes as counts only).
"""
from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import and_, false, select

from webapp.extensions import db
from webapp.keys import derived_key, verification_keys
from webapp.people.actors import Actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import TicketKind
from webapp.tickets.models import Ticket

PUBLIC_KIND = TicketKind.REPORT  # the only kind a scan lists or a neighbour can say me-too to
TOP_LEVEL = "community"  # the highest rung of the ladder a wish reaches


def _reporter_key_with(key: bytes, person_id: str) -> str:
    return hmac.new(key, f"reporter:{person_id}".encode(), hashlib.sha256).hexdigest()


def reporter_key(person_id: str) -> str:
    """A keyed hash ("wish-reporter" key, webapp/keys.py) that lets a person find their
    anonymous wish without storing who they are."""
    return _reporter_key_with(derived_key("wish-reporter"), person_id)


def reporter_keys(person_id: str) -> list[str]:
    """The person's hash under every key still accepted (the current one first): wishes filed
    before a rotation of SECRET_KEY (SECRET_KEY_PREVIOUS, or before keys were derived)."""
    return [_reporter_key_with(key, person_id) for key in verification_keys("wish-reporter")]


def may_be_anonymous(kind: TicketKind) -> bool:
    """Only a wish may be sent anonymously; a report names its reporter to the staff."""
    return kind is TicketKind.WISH


def author_columns(person_id: str, *, anonymous: bool, contact_phone: str | None) -> dict:
    """The Ticket columns that say who wrote it: none of them for an anonymous wish."""
    return {
        "reporter_id": None if anonymous else person_id,
        "reporter_key": reporter_key(person_id) if anonymous else None,
        "is_anonymous": anonymous,
        "contact_phone": None if anonymous else contact_phone,
    }


def is_author(actor: Actor, ticket: Ticket) -> bool:
    """Whether the actor wrote the ticket: by its reporter id, or by the keyed hash of an
    anonymous wish."""
    if ticket.reporter_id is not None:
        return ticket.reporter_id == actor.person_id
    return ticket.reporter_key is not None and any(
        hmac.compare_digest(ticket.reporter_key, key) for key in reporter_keys(actor.person_id)
    )


def hides_actor(ticket: Ticket, *, by_author: bool) -> bool:
    """An anonymous author's own actions are recorded without a link to them."""
    return ticket.is_anonymous and by_author


# --- who reads a wish: the Python form and the SQL form of one rule ------------------------


def is_reader(actor: Actor, ticket: Ticket) -> bool:
    """Whether the actor reads (and handles) this wish: a wish reader of its community."""
    return ticket.kind is TicketKind.WISH and ticket.community_id in actor.wish_community_ids


def reader_clause(actor: Actor):
    """The SQL condition of is_reader for the tickets table."""
    if not actor.wish_community_ids:
        return false()
    return and_(Ticket.kind == TicketKind.WISH, Ticket.community_id.in_(actor.wish_community_ids))


def readers_of(community_id: int) -> list[str]:
    """The wish readers of a community (at work or not), who take a wish that climbs to it."""
    return sorted(
        db.session.scalars(
            select(StaffAssignment.person_id)
            .where(StaffAssignment.role == Role.WISH_READER, StaffAssignment.community_id == community_id)
            .distinct()
        )
    )
