"""Submitting a report or a wish: from a scanned code to a routed, numbered ticket.

A phone on a bad network may send the same submission many times, even at once: the
Idempotency-Key is claimed first (a unique row), so every repeat finds the same ticket.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.domain import registry
from webapp.domain.access import reporter_key
from webapp.domain.actors import Actor
from webapp.domain.routing import route
from webapp.domain.photos import claim_photos
from webapp.domain.workflow import Action, ActionInput, transition
from webapp.errors import Invalid, WeChatError, WeChatUnavailable
from webapp.extensions import db
from webapp.wechat import get_wechat
from webapp.models import (
    OPEN_STATUSES,
    Building,
    Category,
    Community,
    Grid,
    IdempotencyRecord,
    Person,
    Street,
    Ticket,
    TicketCounter,
    TicketKind,
    Unit,
    new_id,
    utcnow,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESCRIPTION_MIN = 5
DESCRIPTION_MAX = 500
MAX_PHOTOS = 9
DUPLICATE_WINDOW = timedelta(days=1)
CONTENT_SCENE_COMMENT = 2  # msgSecCheck scene: a comment-like text


@dataclass
class Submission:
    """What the reporter sends; fields the server owns are not here."""

    code: str
    kind: str
    category: str
    description: str
    unit: str | None = None
    photo_ids: list[str] = field(default_factory=list)
    anonymous: bool = False
    contact_phone: str | None = None

    def fingerprint(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _key_hash(actor: Actor, idempotency_key: str) -> str:
    secret = current_app.config["SECRET_KEY"].encode()
    message = f"idem:{actor.person_id}:{idempotency_key}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _record(key_hash: str) -> IdempotencyRecord | None:
    return db.session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.key_hash == key_hash)
    ).first()


def ticket_for_key(actor: Actor, idempotency_key: str) -> Ticket | None:
    """The ticket this person already filed with this idempotency key, if any."""
    record = _record(_key_hash(actor, idempotency_key))
    if record is None or record.ticket_id is None:
        return None
    return db.session.get(Ticket, record.ticket_id)


def _replay(record: IdempotencyRecord, fingerprint: str) -> Ticket:
    if record.fingerprint != fingerprint:
        raise Invalid(
            "同一个请求标识已用于另一份不同的提交",
            code="idempotency_key_reused",
            errors={"Idempotency-Key": ["该请求标识已用于不同的内容"]},
        )
    return db.session.get(Ticket, record.ticket_id)


def submit_ticket(
    actor: Actor, submission: Submission, idempotency_key: str
) -> tuple[Ticket, bool]:
    """File a ticket once per idempotency key; returns (ticket, created).

    Raises NotFound/Gone for the code, Invalid (422) for a category, unit, description or
    photo that does not fit, for a text WeChat finds risky, or for the same key reused with
    another body. When WeChat cannot judge the text, the ticket is kept and held for review.
    """
    fingerprint = submission.fingerprint()
    key_hash = _key_hash(actor, idempotency_key)
    existing = _record(key_hash)
    if existing is not None and existing.ticket_id is not None:
        return _replay(existing, fingerprint), False

    building, grid, community, street = _place(registry.resolve_code(submission.code))
    category = _category(submission)
    unit_id = _unit_id(building, submission.unit)
    description = _description(submission.description)
    needs_review = screen_text(actor, description)

    try:
        with db.session.begin_nested():
            record = IdempotencyRecord(key_hash=key_hash, fingerprint=fingerprint)
            db.session.add(record)
            db.session.flush()  # claims the key: a concurrent twin waits here, then fails
            ticket = _new_ticket(
                actor, submission, (building, grid, community, street), category, unit_id,
                description, needs_review,
            )
            record.ticket_id = ticket.id
            db.session.flush()
    except IntegrityError:
        record = _record(key_hash)
        if record is None or record.ticket_id is None:
            raise  # not the key's twin: a real integrity problem
        return _replay(record, fingerprint), False
    return ticket, True


def _category(submission: Submission) -> Category:
    category = db.session.scalars(
        select(Category).where(Category.code == submission.category, Category.is_active.is_(True))
    ).first()
    if category is None or category.kind.value != submission.kind:
        raise Invalid(
            "请选择正确的问题类别", code="unknown_category", errors={"category": ["未知的问题类别"]}
        )
    return category


def _unit_id(building: Building, unit_name: str | None) -> int | None:
    if not unit_name:
        return None
    unit_id = db.session.scalars(
        select(Unit.id).where(Unit.building_id == building.id, Unit.name == unit_name)
    ).first()
    if unit_id is None:
        raise Invalid("该楼栋没有这个单元", errors={"unit": ["该楼栋没有这个单元"]})
    return unit_id


def _description(text: str) -> str:
    text = (text or "").strip()
    if not DESCRIPTION_MIN <= len(text) <= DESCRIPTION_MAX:
        message = f"问题描述需要{DESCRIPTION_MIN}到{DESCRIPTION_MAX}个字"
        raise Invalid(message, errors={"description": [message]})
    return text


def _place(building_id: int) -> tuple[Building, Grid, Community, Street]:
    """The building and the places above it, in one query."""
    return db.session.execute(
        select(Building, Grid, Community, Street)
        .join(Grid, Grid.id == Building.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .join(Street, Street.id == Community.street_id)
        .where(Building.id == building_id)
    ).one()


def _new_ticket(actor, submission, place, category, unit_id, description, needs_review):
    building, grid, community, street = place
    now = utcnow()
    anonymous = submission.anonymous and category.kind is TicketKind.WISH
    ticket = Ticket(
        id=new_id(),
        number=next_number(street, now),
        kind=category.kind,
        category=category,
        category_id=category.id,
        building_id=building.id,
        unit_id=unit_id,
        grid_id=grid.id,
        community_id=community.id,
        street_id=street.id,
        description=description,
        reporter_id=None if anonymous else actor.person_id,
        reporter_key=reporter_key(actor.person_id) if anonymous else None,
        is_anonymous=anonymous,
        is_rider_report=actor.is_rider and category.kind is TicketKind.REPORT,
        contact_phone=None if anonymous else submission.contact_phone,
        needs_review=needs_review,
        photo_ids=list(submission.photo_ids),
        created_at=now,
    )
    db.session.add(ticket)
    # Nothing is flushed until the ticket is whole: its status is set by the transition.
    with db.session.no_autoflush:
        if category.kind is TicketKind.REPORT:
            ticket.duplicate_of_id = _recent_duplicate(ticket, now)
        decision = route(grid, category)
        transition(
            ticket,
            Action.SUBMIT,
            actor,
            ActionInput(routing=(decision.assignee_id, decision.rule)),
            now=now,
        )
    # The ticket row exists now (the photos' foreign key); an anonymous wish forgets its author.
    claim_photos(actor, submission.photo_ids, ticket.id, forget_uploader=anonymous)
    db.session.flush()
    return ticket


def _recent_duplicate(ticket: Ticket, now: datetime) -> str | None:
    """An open report of the same category at the same building within a day, if any."""
    return db.session.scalars(
        select(Ticket.id)
        .where(
            Ticket.building_id == ticket.building_id,
            Ticket.category_id == ticket.category_id,
            Ticket.kind == TicketKind.REPORT,
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.created_at >= now - DUPLICATE_WINDOW,
            Ticket.id != ticket.id,
        )
        .order_by(Ticket.created_at)
    ).first()


def next_number(street: Street, now: datetime) -> str:
    """The next human number of the street's day, e.g. JY-20261122-0042 (Beijing date)."""
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    scope = f"{street.ticket_prefix}-{day}"
    for _ in range(3):
        value = db.session.execute(
            update(TicketCounter)
            .where(TicketCounter.scope == scope)
            .values(value=TicketCounter.value + 1)
            .returning(TicketCounter.value)
        ).scalar()
        if value is not None:
            return f"{scope}-{value:04d}"
        try:
            with db.session.begin_nested():
                db.session.execute(insert(TicketCounter).values(scope=scope, value=1))
            return f"{scope}-0001"
        except IntegrityError:
            continue  # another submission created the day's counter first
    raise RuntimeError("could not allocate a ticket number")


def screen_text(actor: Actor, text: str) -> bool:
    """Check a description with WeChat's content security; True means "hold for review".

    A risky text is refused (422). WeChat unreachable, unsure ("review") or unable to judge
    (no openid: a plain-browser reporter) keeps the ticket but holds it back from public lists.
    """
    wechat = get_wechat()
    if not wechat.is_configured:
        return False
    person = db.session.get(Person, actor.person_id)
    if person is None or not person.openid:
        return True
    try:
        suggest = wechat.check_text(person.openid, text, scene=CONTENT_SCENE_COMMENT)
    except (WeChatUnavailable, WeChatError):
        current_app.logger.warning("content check unavailable; ticket held for review")
        return True
    if suggest == "risky":
        raise Invalid(
            "描述中含有不适宜发布的内容，请修改后再提交",
            code="content_risky",
            errors={"description": ["内容未通过安全检查"]},
        )
    return suggest == "review"
