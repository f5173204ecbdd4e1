"""Submitting a report or a wish: from a scanned code to a routed, numbered ticket.

A phone on a bad network may send the same submission many times, even at once: the
Idempotency-Key is claimed first (a unique row), so every repeat finds the same ticket.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import create_engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from webapp.domain import registry
from webapp.domain.access import reporter_key
from webapp.domain.actors import Actor
from webapp.domain.routing import route
from webapp.domain.photos import claim_photos
from webapp.domain.workflow import Action, ActionInput, transition
from webapp.errors import Invalid, WeChatError, WeChatUnavailable
from webapp.extensions import db
from webapp.models import (
    OPEN_STATUSES,
    Building,
    Category,
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
from webapp.wechat import get_wechat

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
    The caller commits.
    """
    fingerprint = submission.fingerprint()
    key_hash = _key_hash(actor, idempotency_key)
    # A savepoint: a submission refused halfway (a photo that is not the reporter's) leaves
    # nothing in the session, not even its claim on the key.
    with db.session.begin_nested():
        record_id = _claim(key_hash, fingerprint)
        if record_id is None:
            # The key is taken, by a submission that has committed: a concurrent twin's
            # INSERT waits for the other transaction and finds the row once that one commits.
            record = _record(key_hash)
            if record is None or record.ticket_id is None:
                raise RuntimeError("idempotency record without its ticket")
            return _replay(record, fingerprint), False

        building, grid, community, street = registry.place_of_code(submission.code)
        category = _category(submission)
        unit = _unit(building, submission.unit)
        description = _description(submission.description)
        needs_review = screen_text(actor, description)
        ticket = _new_ticket(
            actor, submission, (building, grid, community, street), category, unit,
            description, needs_review,
        )
        db.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(ticket_id=ticket.id)
            .execution_options(synchronize_session=False)
        )
    return ticket, True


def _claim(key_hash: str, fingerprint: str) -> int | None:
    """Claim the key in the current transaction: INSERT ... ON CONFLICT DO NOTHING RETURNING
    id. The record's id, or None when the key is already taken. A concurrent twin waits here
    until the first transaction ends (PostgreSQL: on the unique index; SQLite: one writer)."""
    dialect = db.session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(IdempotencyRecord)
    return db.session.execute(
        statement.values(key_hash=key_hash, fingerprint=fingerprint, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key_hash"])
        .returning(IdempotencyRecord.id)
    ).scalar()


def _category(submission: Submission) -> Category:
    category = db.session.scalars(
        select(Category).where(Category.code == submission.category, Category.is_active.is_(True))
    ).first()
    if category is None or category.kind.value != submission.kind:
        raise Invalid(
            "请选择正确的问题类别", code="unknown_category", errors={"category": ["未知的问题类别"]}
        )
    return category


def _unit(building: Building, unit_name: str | None) -> Unit | None:
    if not unit_name:
        return None
    unit = db.session.scalars(
        select(Unit).where(Unit.building_id == building.id, Unit.name == unit_name)
    ).first()
    if unit is None:
        raise Invalid("该楼栋没有这个单元", errors={"unit": ["该楼栋没有这个单元"]})
    return unit


def _description(text: str) -> str:
    text = (text or "").strip()
    if not DESCRIPTION_MIN <= len(text) <= DESCRIPTION_MAX:
        message = f"问题描述需要{DESCRIPTION_MIN}到{DESCRIPTION_MAX}个字"
        raise Invalid(message, errors={"description": [message]})
    return text


def _new_ticket(actor, submission, place, category, unit, description, needs_review):
    building, grid, community, street = place
    now = utcnow()
    anonymous = submission.anonymous and category.kind is TicketKind.WISH
    _ = grid.community  # loaded with the place (no query): kept with the grid for the presenter
    ticket = Ticket(
        id=new_id(),
        number=next_number(street, now),
        kind=category.kind,
        category=category,
        category_id=category.id,
        # The place as objects too: the presenter shows them without reading them again.
        building=building,
        building_id=building.id,
        unit=unit,
        unit_id=unit.id if unit is not None else None,
        grid=grid,
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
    """The next human number of the street's day, e.g. JY-20261122-0042 (Beijing date).

    On PostgreSQL the day's counter is taken in a transaction of its own, one statement
    committed at once (on a connection of _counter_engine): every submission of the street's
    day updates that one row, and a row lock held until the submission commits would make
    them all wait in line. A submission that fails after this leaves a gap in the day's
    numbers. SQLite has a single writer anyway: there the counter is part of the submission's
    transaction.
    """
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    scope = f"{street.ticket_prefix}-{day}"
    if db.session.get_bind().dialect.name == "postgresql":
        upsert = postgresql.insert(TicketCounter).values(scope=scope, value=1)
        upsert = upsert.on_conflict_do_update(
            index_elements=[TicketCounter.scope], set_={"value": TicketCounter.value + 1}
        ).returning(TicketCounter.value)
        with _counter_engine().connect() as conn:
            value = conn.execute(upsert).scalar_one()
        return f"{scope}-{value:04d}"
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


_counter_engines: dict = {}
_counter_lock = threading.Lock()


def _counter_engine():
    """An autocommit engine of this process for the counter statement, apart from the app's
    pool: a request that holds a session connection never waits for a second one from the
    same pool (with as many threads as the pool has connections, that wait would never end).
    Its connections are held for one statement; beyond two, extra ones are opened and closed."""
    key = (os.getpid(), db.engine.url)  # a forked worker makes its own
    engine = _counter_engines.get(key)
    if engine is None:
        with _counter_lock:
            engine = _counter_engines.get(key)
            if engine is None:
                options = current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
                engine = create_engine(
                    db.engine.url,
                    isolation_level="AUTOCOMMIT",
                    pool_size=2,
                    max_overflow=-1,
                    pool_pre_ping=bool(options.get("pool_pre_ping", False)),
                )
                _counter_engines[key] = engine
    return engine


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
