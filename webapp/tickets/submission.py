"""Submitting a report or a wish: from a scanned code to a routed, numbered ticket.

A phone on a bad network may send the same submission many times, even at once: the
Idempotency-Key is claimed (a unique row) by the statement that writes the ticket, so a
repeat, or a twin waiting on the key's row, writes nothing and finds the same ticket.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, insert, literal, literal_column, null, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from webapp.columns import new_id, utcnow
from webapp.errors import Invalid, WeChatError, WeChatUnavailable
from webapp.extensions import db
from webapp.keys import verification_keys
from webapp.notifications import outbox
from webapp.people.actors import Actor
from webapp.people.models import Person, Rider, RiderStatus
from webapp.people.persons import assignee_label
from webapp.reads import PreparedStatement, among, autocommit_engine, session_in_transaction
from webapp.registry import scan
from webapp.registry.models import Building, BuildingCode, TicketKind, Unit
from webapp.tickets import notices, routing, wishes
from webapp.tickets.filing import file_ticket
from webapp.tickets.models import OPEN_STATUSES, IdempotencyRecord, Ticket, TicketCounter
from webapp.tickets.photos import claim_photos
from webapp.tickets.state_machine import ActionInput, open_ticket
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
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}  # no deep copy
        canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _key_hashes(actor: Actor, idempotency_key: str) -> list[str]:
    """The key's hash ("idempotency" key, webapp/keys.py) under every key still accepted, the
    current one first (the one a new claim stores): a claim made before a rotation of
    SECRET_KEY, or before keys were derived, still finds its ticket."""
    message = f"idem:{actor.person_id}:{idempotency_key}".encode()
    return [hmac.new(key, message, hashlib.sha256).hexdigest() for key in verification_keys("idempotency")]


def _record(key_hashes: list[str]) -> IdempotencyRecord | None:
    return db.session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.key_hash.in_(key_hashes))
    ).first()


def ticket_for_key(actor: Actor, idempotency_key: str) -> Ticket | None:
    """The ticket this person already filed with this idempotency key, if any."""
    record = _record(_key_hashes(actor, idempotency_key))
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


@dataclass(frozen=True)
class Filed:
    """A submission's outcome: the ticket (in the session; or detached, every column loaded,
    when its rows were written on their own: filing.file_ticket), whether this request made
    it, and what it showed of the ticket's place, category, unit and assignee (None on a
    replay), so that a presenter shows the new ticket without reading them again."""

    ticket: Ticket
    created: bool
    names: TicketNames | None = None


@dataclass(frozen=True)
class TicketNames:
    building: dict  # as scan.Place.shown()
    category: tuple[str, str]  # (code, name)
    unit: str | None
    assignee: dict | None  # {"role", "name"}


def submit_ticket(actor: Actor, submission: Submission, idempotency_key: str) -> Filed:
    """File a ticket once per idempotency key.

    Raises NotFound/Gone for the code, Invalid (422) for a category, unit, description or
    photo that does not fit, for a text WeChat finds risky, or for the same key reused with
    another body. When WeChat cannot judge the text, the ticket is kept and held for review.
    The caller commits if the session's transaction is under way, or rolls back after an
    error (the rows are written before the photos are claimed). On PostgreSQL the code's
    place and routing facts are read outside the session's transaction (_facts): the
    registry the submission relies on (codes, buildings, staff) must be committed, as it
    always is for a request.

    The path is written for throughput (bench/bench_submit.py): one prepared statement for
    the place, unit, routing facts, a possible duplicate, a claim of the key already made (a
    retry: replayed) and, on PostgreSQL, the day's number (_facts_statement); then the key's
    claim and the rows (ticket, first event, the assignee's notice) in one statement on
    PostgreSQL (filing.file_ticket): with no photo to claim and nothing written before by the
    request, in autocommit, committed by itself (the ticket stays out of the session);
    otherwise in the session's transaction (the ticket joins the session as if loaded).
    """
    fingerprint = submission.fingerprint()
    key_hashes = _key_hashes(actor, idempotency_key)
    scan.check_code(submission.code)
    category = _category(submission)
    anonymous = _anonymous(submission, category)
    description = _description(submission.description)
    now = utcnow()
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    row = _facts(
        {
            "code": submission.code, "category_id": category.id, "unit": submission.unit or "",
            "since": now - DUPLICATE_WINDOW, "person_id": actor.person_id,
            "key_hashes": key_hashes, "scope_day": f"-{day}",
        }
    )
    place = scan.place_of_row(row)
    if row.claimed_key is not None:  # a retry of a submission filed before: a replay
        return Filed(_replay(_record([row.claimed_key]), fingerprint), False)
    if submission.unit and row.unit_id is None:
        raise Invalid("该楼栋没有这个单元", errors={"unit": ["该楼栋没有这个单元"]})
    needs_review = screen_text(row.reporter_openid, description)
    decision = routing.decide(category.kind, category.department_id, routing.facts_of(row))
    ticket = Ticket(
        id=new_id(),
        number=_number(place.ticket_prefix, day, row.day_number),
        kind=category.kind,
        category_id=category.id,
        building_id=place.building_id,
        unit_id=row.unit_id if submission.unit else None,
        grid_id=place.grid_id,
        community_id=place.community_id,
        street_id=place.street_id,
        description=description,
        **wishes.author_columns(
            actor.person_id, anonymous=anonymous, contact_phone=submission.contact_phone,
            created_at=now,
        ),
        is_rider_report=bool(row.is_rider) and category.kind is TicketKind.REPORT,
        needs_review=needs_review,
        photo_ids=list(submission.photo_ids),
        duplicate_of_id=row.duplicate_id if category.kind is TicketKind.REPORT else None,
        created_at=now,
    )  # the other columns: open_ticket below, then their defaults (filing.file_ticket)
    event = open_ticket(
        ticket, actor, ActionInput(routing=(decision.assignee_id, decision.rule), category=category), now=now
    )
    message = None
    notice = notices.assignee_notice(ticket, event)
    if notice is not None:
        person_id, kind, note = notice
        shown = outbox.ticket_values(ticket, now, category=category.name, place=place.building_name)
        message = outbox.message_row(person_id, kind, {**shown, "note": note}, ticket.id, now)
    # The rows are the request's only write unless photos are claimed with them, or the
    # request wrote before (the phone page's new guest): then they join the session's transaction.
    on_its_own = not submission.photo_ids and not session_in_transaction()
    if file_ticket(ticket, event, message, key_hashes[0], fingerprint, on_its_own=on_its_own) is None:
        # The key is taken, by a submission that has committed: a concurrent twin's claim
        # waits for the other transaction and finds the row once that one commits. (On
        # PostgreSQL the number taken above is left unused.)
        record = _record(key_hashes[:1])
        if record is None or record.ticket_id is None:
            raise RuntimeError("idempotency record without its ticket")
        return Filed(_replay(record, fingerprint), False)
    # The ticket row exists now (the photos' foreign key); an anonymous wish forgets its author.
    claim_photos(actor, submission.photo_ids, ticket.id, forget_uploader=anonymous)
    names = TicketNames(
        building=place.shown(),
        category=(category.code, category.name),
        unit=submission.unit if ticket.unit_id is not None else None,
        assignee=_assignee_shown(row, decision),
    )
    return Filed(ticket, True, names)


_tickets = Ticket.__table__

# One query: the place of the code (registry), the unit by name, what routing needs (routing.
# with_facts) and the oldest open report of the same category at the building within a day.
_unit_id = (
    select(Unit.id)
    .where(Unit.building_id == Building.id, Unit.name == bindparam("unit"))
    .limit(1)
    .scalar_subquery()
)
_duplicate_id = (
    select(_tickets.c.id)
    .where(
        _tickets.c.building_id == Building.id,
        _tickets.c.category_id == bindparam("category_id"),
        _tickets.c.kind == TicketKind.REPORT,
        _tickets.c.status.in_([literal_column(f"'{s.value}'") for s in OPEN_STATUSES]),
        _tickets.c.created_at >= bindparam("since"),
    )
    .order_by(_tickets.c.created_at)
    .limit(1)
    .scalar_subquery()
)
# Whether the reporter is an active rider now: read here, not from the actor, whose roles may
# be AUTH_CACHE_SECONDS old (a rider who enrols and reports at once gets the report counted).
_is_rider = (
    select(Rider.id)
    .where(Rider.person_id == bindparam("person_id"), Rider.status == RiderStatus.ACTIVE)
    .exists()
)
# The reporter's openid, for WeChat's content check of the text (screen_text).
_reporter_openid = select(Person.openid).where(Person.id == bindparam("person_id")).scalar_subquery()


def _facts_statement(dialect_name: str):
    """The facts query; on PostgreSQL with the day's number taken in the same statement.

    A claim of the same Idempotency-Key, hashed with any key still accepted (webapp/keys.py
    verification_keys: the current one, or one of before a rotation), is read too: a retry of
    a submission already filed is replayed before anything is built or numbered. One index
    probe, no round trip. (A twin submitted at the same moment finds no claim here and is
    caught by the claim's unique key in filing.file_ticket.)

    On PostgreSQL the statement also takes the next number of the street's day (the counter
    row of "<ticket_prefix>-<day>", :scope_day being "-<day>"), when the code is live, no
    claim replays, and the unit asked for exists: the row's day_number, else NULL.
    It runs in autocommit on a connection of its own (reads.autocommit_engine), so that the
    counter's row lock lasts for this statement only (see _number); the read facts are the
    same as in the session's transaction would be (READ COMMITTED: each statement reads its
    own snapshot). The reporter's openid comes with them (WeChat's check of the text).
    """
    claimed_key = (
        select(IdempotencyRecord.key_hash)
        .where(among(IdempotencyRecord.key_hash, dialect_name, "key_hashes"))
        .limit(1)
        .scalar_subquery()
    )
    facts = routing.with_facts(
        select(
            *scan.PLACE_COLUMNS, _unit_id.label("unit_id"), _duplicate_id.label("duplicate_id"),
            _is_rider.label("is_rider"), claimed_key.label("claimed_key"),
            _reporter_openid.label("reporter_openid"),
        ),
        scan.PLACE_OF_CODE,
    ).where(BuildingCode.code == bindparam("code"))
    if dialect_name != "postgresql":
        return facts.add_columns(null().label("day_number"))
    facts = facts.cte("facts")
    counters = TicketCounter.__table__
    taken = (
        postgresql.insert(counters)
        .from_select(
            ["scope", "value"],
            select(facts.c.ticket_prefix + bindparam("scope_day"), literal(1)).where(
                facts.c.revoked_at.is_(None),
                facts.c.claimed_key.is_(None),
                or_(bindparam("unit") == "", facts.c.unit_id.is_not(None)),
            ),
        )
        .on_conflict_do_update(index_elements=[counters.c.scope], set_={"value": counters.c.value + 1})
        .returning(counters.c.value)
        .cte("taken")
    )
    return select(facts, select(taken.c.value).scalar_subquery().label("day_number"))


_FACTS = {name: PreparedStatement(_facts_statement(name)) for name in ("postgresql", "sqlite")}


def _facts(params: dict):
    """The facts row of a submission (the place of its code, routing, duplicate, rider,
    claim of the key, day_number): on PostgreSQL in autocommit on a connection outside the
    session (reads.autocommit_engine, not durable: see _number), elsewhere on the session's
    (nothing pending to autoflush yet). Prepared: SQLAlchemy's execution and result layers
    cost a quarter of this query's CPU."""
    if db.engine.dialect.name == "postgresql":
        with autocommit_engine(durable=False).connect() as conn:
            return _FACTS["postgresql"].first(conn, params)
    connection = db.session.connection()
    return _FACTS[connection.dialect.name].first(connection, params)


def _assignee_shown(row, decision) -> dict | None:
    """The new assignee as tickets show them, from the facts row (a wish reader is read)."""
    if decision.assignee_id is None:
        return None
    for name in routing.CANDIDATES:
        if getattr(row, f"{name}_id") == decision.assignee_id:
            return assignee_label(getattr(row, f"{name}_name"), routing.roles_of(row, decision.assignee_id))
    return None  # the presenter reads them


def _category(submission: Submission) -> scan.CategoryInfo:
    category = scan.active_category(submission.category)
    if category is None or category.kind.value != submission.kind:
        raise Invalid(
            "请选择正确的问题类别", code="unknown_category", errors={"category": ["未知的问题类别"]}
        )
    return category


def _anonymous(submission: Submission, category: scan.CategoryInfo) -> bool:
    """Whether the ticket is sent anonymously: a wish may be; a report asking to be is refused
    (422), never filed under a name its reporter asked to withhold."""
    if submission.anonymous and not wishes.may_be_anonymous(category.kind):
        message = "随手拍需要实名提交，便于工作人员联系核实；只有心语心愿可以匿名"
        raise Invalid(message, code="anonymous_report", errors={"anonymous": [message]})
    return submission.anonymous


def _description(text: str) -> str:
    text = (text or "").strip()
    if not DESCRIPTION_MIN <= len(text) <= DESCRIPTION_MAX:
        message = f"问题描述需要{DESCRIPTION_MIN}到{DESCRIPTION_MAX}个字"
        raise Invalid(message, errors={"description": [message]})
    return text


def _number(ticket_prefix: str, day: str, day_number: int | None) -> str:
    """The human number of a new ticket: the street's day (Beijing date) and its running
    number, e.g. JY-20261122-0042.

    On PostgreSQL the facts statement has taken it (day_number), in a transaction of its own
    committed at once, without waiting for its WAL flush (reads.autocommit_engine(durable=
    False)): every submission of the street's day updates that one row, and a row lock held
    until the submission commits (its WAL flush included) would make them all wait in line.
    A ticket that uses the number commits later, durably, which flushes the WAL up to and
    past the counter's commit: a crash can only lose numbers no ticket committed with. A
    submission that fails after this (a text WeChat finds risky, a photo not the sender's)
    leaves a gap in the day's numbers, as does a twin sent at the same moment as its key's
    first submission (a later retry is replayed before a number is taken). SQLite has a
    single writer anyway: there the counter is part of the submission's transaction.
    """
    scope = f"{ticket_prefix}-{day}"
    if day_number is not None:
        return f"{scope}-{day_number:04d}"
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


def screen_text(openid: str | None, text: str) -> bool:
    """Check a description with WeChat's content security, as the reporter of this openid
    wrote it; True means "hold for review".

    A risky text is refused (422). WeChat unreachable, unsure ("review") or unable to judge
    (no openid: a plain-browser reporter) keeps the ticket but holds it back from public lists.
    """
    wechat = get_wechat()
    if not wechat.is_configured:
        return False
    if not openid:
        return True
    try:
        suggest = wechat.check_text(openid, text, scene=CONTENT_SCENE_COMMENT)
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
