"""A resident's own deletion request (注销并删除个人信息): DELETE /api/v1/me and
`flask privacy delete-person <id, openid or phone>`.

It is the erasure WeChat's user_authorization_cancellation asks for (webapp/people/erasure.py:
WeChat unlinked, name replaced, phone cleared, sessions and subscriptions deleted, the contact
phone of their tickets cleared, a rider suspended), and beyond it:
- their rating comments (free text) are cleared, their me-too rows deleted (me_too_count stays);
- the contact phone of any ticket that gave the same number (found by its keyed lookup hash,
  e.g. a report filed on the phone page as a guest) is cleared;
- their photos not attached to a ticket are deleted, the others no longer name their uploader
  (the caller does so through webapp.tickets.photos.forget_photos_of, which owns the storage).

Their tickets stay, as the public service's record and its statistics: numbers, places,
categories, texts of reports, times, statuses, ratings, events. The audit trail records the
deletion (person_deleted) with who asked. Staff accounts are refused: the console's 离岗停用
ends them, and the registry keeps their record.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update

from webapp.audit import trail
from webapp.errors import Conflict, Forbidden, NotFound
from webapp.extensions import db
from webapp.people import erasure
from webapp.people.models import Person
from webapp.privacy.sealing import phone_hashes
from webapp.tickets.models import MeToo, Ticket

_tickets = Ticket.__table__


@dataclass(frozen=True)
class Deletion:
    person_id: str
    tickets: int  # tickets that lost a contact phone, a comment or a legacy wish hash
    me_toos: int


def find_person(reference: str) -> Person:
    """The person named by an id, an openid or a phone number (by its lookup hash). Raises
    NotFound, or Conflict when a number belongs to several people."""
    reference = (reference or "").strip()
    person = db.session.get(Person, reference) if reference else None
    if person is None and reference:
        person = db.session.scalars(select(Person).where(Person.openid == reference)).first()
    if person is None and reference:
        found = list(db.session.scalars(select(Person).where(Person.phone_hash.in_(phone_hashes(reference)))))
        if len(found) > 1:
            raise Conflict("该手机号对应多个人员，请改用人员编号", code="phone_ambiguous")
        person = found[0] if found else None
    if person is None:
        raise NotFound("未找到该人员", code="person_not_found")
    return person


def delete_person(person: Person, *, by: str, actor_id: str | None = None, address: str | None = None) -> Deletion:
    """Erase a resident's personal data (the module docstring says what goes and what stays).
    `by`: "self" (their own request) or "cli". Raises Forbidden for a staff account. Flushes;
    the caller deletes their photos (forget_photos_of) and commits."""
    if erasure.is_staff(person):
        raise Forbidden("工作人员账号不能在此注销，请联系管理员办理离岗停用", code="staff_account")
    phone = person.phone
    done = erasure.forget_person(person, reason=f"deletion request ({by})")
    tickets = done.tickets + db.session.execute(
        update(_tickets)
        .where(_tickets.c.reporter_id == person.id, _tickets.c.rating_comment.is_not(None))
        .values(rating_comment=None, updated_at=_tickets.c.updated_at)
    ).rowcount
    if phone:
        tickets += db.session.execute(
            update(_tickets)
            .where(_tickets.c.contact_phone_hash.in_(phone_hashes(phone)))
            .values(contact_phone=None, contact_phone_hash=None, updated_at=_tickets.c.updated_at)
        ).rowcount
    me_toos = db.session.execute(delete(MeToo).where(MeToo.person_id == person.id)).rowcount
    trail.record(
        trail.Action.PERSON_DELETED, actor_id=actor_id, target_type="person", target_id=person.id,
        address=address, detail={"by": by, "tickets": tickets},
    )
    db.session.flush()
    db.session.expire_all()
    return Deletion(person.id, tickets, me_toos)
