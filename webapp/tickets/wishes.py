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
  (submission claims them with forget_uploader). Its reporter_key is the keyed hash of a
  secret of that wish alone (author_secret: a keyed hash of the author and the instant it was
  filed), which the submission's answer gives the author's device (again to a retry with the
  same Idempotency-Key): the author presents it (Actor.wish_secrets, the API's X-Wish-Secrets
  header) to list their anonymous wishes under "mine". Two wishes of one person share nothing
  in the database. Given one wish, the server can still tell whether a given person filed it
  (is_author makes the secret again), so its author reads and rates it by id, and the phone
  page's guest, whose browser keeps no secret, gives feedback. Wishes filed before migration
  0007 carry the keyed hash of their author's id instead (reporter_keys), still accepted until
  retention purges it (docs/privacy.md). Nobody can push a notice to the author either;
- an overdue wish climbs the ladder only as far as TOP_LEVEL (the community), where its
  handlers are the community's wish readers (readers_of): street staff and departments never
  receive a wish's content (they see wishes as counts only).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, false, select

from webapp.extensions import db
from webapp.keys import derived_key, verification_keys
from webapp.people.actors import Actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import TicketKind
from webapp.tickets.models import Ticket

PUBLIC_KIND = TicketKind.REPORT  # the only kind a scan lists or a neighbour can say me-too to
TOP_LEVEL = "community"  # the highest rung of the ladder a wish reaches
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


def author_secret(person_id: str, created_at: datetime) -> str:
    """The secret of one anonymous wish (43 URL-safe characters, 256 bits), derived from its
    author and the instant it was filed: the submission's answer gives it to the author's
    device, and a retry of the same submission (same Idempotency-Key) gets it again. Nothing
    stored holds it: the ticket keeps only its keyed hash (reporter_key)."""
    message = f"wish-secret:{person_id}:{_micros(created_at)}".encode()
    digest = hmac.new(derived_key("wish-reporter"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _micros(at: datetime) -> int:
    """The instant as whole microseconds since the epoch (the same however it was read back)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _secret_hash_with(key: bytes, secret: str) -> str:
    return hmac.new(key, f"wish-secret-hash:{secret}".encode(), hashlib.sha256).hexdigest()


def secret_hashes(secrets) -> list[str]:
    """The reporter_key each wish secret given stands for, under every key still accepted."""
    keys = verification_keys("wish-reporter")
    return list(dict.fromkeys(_secret_hash_with(key, secret) for secret in secrets for key in keys))


def author_keys(actor: Actor) -> list[str]:
    """The reporter_keys "mine" looks up for the actor's anonymous wishes: those of the wish
    secrets they present, then the legacy keyed hashes of their id (before migration 0007)."""
    return [*secret_hashes(actor.wish_secrets), *reporter_keys(actor.person_id)]


def _own_wish_keys(actor: Actor, ticket: Ticket) -> list[str]:
    """The reporter_key this ticket would have if the actor had filed it: its secret made again
    from the actor and the ticket's time (the phone page's guest, whose browser keeps no
    secret, is recognised so), under every key still accepted."""
    if ticket.created_at is None:  # not filed yet
        return []
    message = f"wish-secret:{actor.person_id}:{_micros(ticket.created_at)}".encode()
    secrets = [
        base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=").decode()
        for key in verification_keys("wish-reporter")
    ]
    return secret_hashes(secrets)


def may_be_anonymous(kind: TicketKind) -> bool:
    """Only a wish may be sent anonymously; a report names its reporter to the staff."""
    return kind is TicketKind.WISH


def author_columns(
    person_id: str, *, anonymous: bool, contact_phone: str | None, created_at: datetime | None = None
) -> dict:
    """The Ticket columns that say who wrote it: none of them for an anonymous wish, whose
    reporter_key is the keyed hash of its own secret (author_secret of the ticket's created_at,
    which the caller gives; now if not)."""
    secret = author_secret(person_id, created_at or datetime.now(timezone.utc)) if anonymous else None
    return {
        "reporter_id": None if anonymous else person_id,
        "reporter_key": _secret_hash_with(derived_key("wish-reporter"), secret) if anonymous else None,
        "is_anonymous": anonymous,
        "contact_phone": None if anonymous else contact_phone,
    }


def is_author(actor: Actor, ticket: Ticket) -> bool:
    """Whether the actor wrote the ticket: by its reporter id, or, for an anonymous wish, by a
    wish secret the actor presents (or the legacy keyed hash of their id)."""
    if ticket.reporter_id is not None:
        return ticket.reporter_id == actor.person_id
    return ticket.reporter_key is not None and any(
        hmac.compare_digest(ticket.reporter_key, key)
        for key in (*author_keys(actor), *_own_wish_keys(actor, ticket))
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
