"""Forgetting a WeChat user who withdrew their consent or closed their WeChat account.

WeChat pushes user_authorization_revoke (the user withdrew one kind of information they had
authorized: RevokeInfo names which) and user_authorization_cancellation (the user closed their
WeChat account), each naming the user by OpenID, and asks the back end to delete that data.

A revoke (withdraw_authorization) deletes what its RevokeInfo names, as far as this project
holds it, and nothing more: 8 (phone number) the person's phone and the contact phone of their
tickets; 6, 19, 20 (nickname, avatar) a resident's or rider's name; 14 (chosen images) their
photos, which the callback hands to webapp.tickets.photos.forget_photos_of. The other kinds
(plate number, address, invoice, Bluetooth, microphone, camera, steps, location, files, e-mail)
are never stored here: nothing to delete, logged. An unknown value is logged for review.

A cancellation hands the OpenID to forget_wechat_user():

- a resident (or rider) is unlinked from WeChat and their personal data erased: the openid
  cleared, the name replaced by PLACEHOLDER_NAME, the phone cleared; their login sessions
  (with WeChat's session key) and subscribe-message consents deleted; a rider's name replaced
  and the rider suspended. The tickets they reported stay (public-service records) but lose
  the contact phone; the reporter link now points at the erased record, which names nobody;
  an anonymous wish of before migration 0007 loses its keyed hash of the author's id
  (reporter_key), so nothing leads back to its author (a newer one never had such a link: its
  reporter_key is the hash of a secret of that wish alone, webapp/tickets/wishes.py);
- a staff member (imported from the one table, or holding a staff role) keeps their record,
  roles and history, since the console and the registry need them: only the WeChat binding
  ends (openid cleared, sessions and consents deleted); a new bind code binds them again;
- the openid is also cleared from the bind codes' audit trail (bind_codes.used_openid).

Queued notifications to the person are not sent: the drainer skips a person without an openid.
Photo files stay (they are evidence of the ticket, stored by content, never tied to a name).
Forgetting is idempotent: an openid nobody has is logged and ignored. The caller commits.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, exists, select, update

from webapp.extensions import db
from webapp.notifications.models import SubscriptionQuota
from webapp.people.auth import actor_cache
from webapp.people.models import AuthSession, BindCode, Person, Rider, RiderStatus, StaffAssignment
from webapp.tickets import wishes
from webapp.tickets.models import Ticket

log = logging.getLogger(__name__)

PLACEHOLDER_NAME = "已注销用户"


@dataclass(frozen=True)
class Erasure:
    """What forgetting one person did (for the log and tests)."""

    person_id: str
    is_staff: bool
    sessions: int
    subscriptions: int
    tickets: int  # tickets that lost a contact phone or an anonymous wish's keyed hash


# RevokeInfo values of WeChat's authorized_user_information_changes push (mini-programs).
PHONE_SCOPE = "8"
NAME_SCOPES = frozenset({"6", "19", "20"})
MEDIA_SCOPE = "14"
NOT_STORED_SCOPES = frozenset({"1", "2", "3", "4", "5", "7", "12", "13", "15", "16", "18"})


@dataclass(frozen=True)
class Withdrawal:
    """What a revoke deleted (for the log, the callback and tests)."""

    person_id: str
    scopes: frozenset[str]
    erased: tuple[str, ...]  # "phone", "name"; photos are the callback's (MEDIA_SCOPE)


def revoke_scopes(revoke_info) -> frozenset[str]:
    """The RevokeInfo values of a push ("8", or several separated by commas or spaces)."""
    text = str(revoke_info or "")
    return frozenset(part for part in text.replace(",", " ").split() if part)


def withdraw_authorization(openid: str, scopes: frozenset[str]) -> Withdrawal | None:
    """Delete what the person bound to `openid` withdrew (the module docstring says what each
    value covers); None when nobody has that openid. Staff keep their name (it comes from the
    registry, not from WeChat). Flushes; the caller commits."""
    person = _person_of(openid)
    if person is None:
        log.info("wechat revoke: no person with that openid, nothing to delete")
        return None
    erased = []
    if PHONE_SCOPE in scopes:
        person.phone = None
        _erase_contact_phones(person.id)
        erased.append("phone")
    if scopes & NAME_SCOPES and not is_staff(person):
        person.name = PLACEHOLDER_NAME
        db.session.execute(update(Rider).where(Rider.person_id == person.id).values(name=PLACEHOLDER_NAME))
        erased.append("name")
    unknown = scopes - NAME_SCOPES - NOT_STORED_SCOPES - {PHONE_SCOPE, MEDIA_SCOPE}
    if unknown:
        log.warning("wechat revoke of unknown kinds %s: nothing deleted for them; review", sorted(unknown))
    db.session.flush()
    actor_cache.forget_person(person.id)
    log.warning("wechat revoke %s: person %s, erased %s", sorted(scopes), person.id, erased or "nothing stored")
    return Withdrawal(person.id, scopes, tuple(erased))


def _person_of(openid: str) -> Person | None:
    openid = (openid or "").strip()
    if not openid:
        return None
    return db.session.scalars(select(Person).where(Person.openid == openid)).first()


def is_staff(person: Person) -> bool:
    """Whether the person is staff: imported with a code, or holding a staff role."""
    return person.code is not None or bool(
        db.session.scalar(select(exists().where(StaffAssignment.person_id == person.id)))
    )


def forget_wechat_user(openid: str, *, reason: str = "") -> Erasure | None:
    """Unlink the person bound to `openid` from WeChat and erase their personal data (the
    module docstring says what is kept); None when nobody has that openid. Flushes."""
    openid = (openid or "").strip()
    if not openid:
        return None
    db.session.execute(
        update(BindCode).where(BindCode.used_openid == openid).values(used_openid=None)
    )
    person = _person_of(openid)
    if person is None:
        log.info("wechat %s: no person with that openid, nothing to forget", reason or "erasure")
        db.session.flush()
        return None
    return forget_person(person, reason=f"wechat {reason or 'erasure'}")


def forget_person(person: Person, *, reason: str) -> Erasure:
    """Unlink this person from WeChat and, unless they are staff, erase their personal data
    (the module docstring says what is kept). Also the first step of a resident's own deletion
    request (webapp.privacy.deletion). Flushes."""
    if person.openid:
        db.session.execute(
            update(BindCode).where(BindCode.used_openid == person.openid).values(used_openid=None)
        )
    staff = is_staff(person)
    person.openid = None
    sessions = db.session.execute(
        delete(AuthSession).where(AuthSession.person_id == person.id)
    ).rowcount
    subscriptions = db.session.execute(
        delete(SubscriptionQuota).where(SubscriptionQuota.person_id == person.id)
    ).rowcount
    tickets = 0
    if not staff:
        person.name = PLACEHOLDER_NAME
        person.phone = None
        tickets = _erase_ticket_contacts(person.id)
        db.session.execute(
            update(Rider)
            .where(Rider.person_id == person.id)
            .values(name=PLACEHOLDER_NAME, status=RiderStatus.SUSPENDED)
        )
    db.session.flush()
    actor_cache.forget_person(person.id)  # tokens this process trusted are checked again
    erasure = Erasure(person.id, staff, sessions, subscriptions, tickets)
    log.warning(
        "%s: person %s unlinked from WeChat (%s); sessions=%d subscriptions=%d tickets=%d",
        reason, person.id, "staff record kept" if staff else "personal data erased",
        sessions, subscriptions, tickets,
    )
    return erasure


def _erase_ticket_contacts(person_id: str) -> int:
    """The contact phone of the person's tickets, and the keyed hash of their anonymous wishes.

    Plain UPDATEs on the table: neither the ticket's version nor its updated_at change (this is
    not a step of the ticket's life, and a worker acting on it meanwhile gets no conflict)."""
    tickets = Ticket.__table__
    phones = _erase_contact_phones(person_id)
    keys = db.session.execute(
        update(tickets)
        .where(tickets.c.reporter_key.in_(wishes.reporter_keys(person_id)))
        .values(reporter_key=None, updated_at=tickets.c.updated_at)
    ).rowcount
    return phones + keys


def _erase_contact_phones(person_id: str) -> int:
    tickets = Ticket.__table__
    return db.session.execute(
        update(tickets)
        .where(tickets.c.reporter_id == person_id, tickets.c.contact_phone.is_not(None))
        .values(contact_phone=None, contact_phone_hash=None, updated_at=tickets.c.updated_at)
    ).rowcount
