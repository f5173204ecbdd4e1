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
from sqlalchemy import Boolean, bindparam, case, false, insert, literal_column, null, select, update
from sqlalchemy.exc import IntegrityError

from webapp.columns import new_id, utcnow
from webapp.errors import Invalid, WeChatError, WeChatUnavailable
from webapp.extensions import db
from webapp.keys import verification_keys
from webapp.notifications import outbox, templates
from webapp.people.actors import Actor
from webapp.people.models import Person, Rider, RiderStatus
from webapp.people.persons import assignee_label
from webapp.reads import PreparedStatement, among, read_connection, session_in_transaction
from webapp.registry import scan
from webapp.registry.models import Building, BuildingCode, TicketKind, Unit
from webapp.tickets import notices, routing, wishes
from webapp.tickets.filing import NUMBER_MARK, file_routed, file_ticket, routed_statement
from webapp.tickets.models import OPEN_STATUSES, IdempotencyRecord, Ticket, TicketCounter, TicketEvent
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
    error (the rows are written before the photos are claimed).

    The path is written for throughput (bench/bench_submit.py). The facts a submission needs
    (the code's place, the unit, the routing facts and decision, a possible duplicate, whether
    the reporter is a rider, a claim of the key already made: a retry, replayed) are one query
    (_facts_query), in which routing decides too (routing.decision_columns).
    - On PostgreSQL that query is part of the one statement that writes the key's claim, the
      day's number, the ticket, its first event and the assignee's notice (filing.
      routed_statement): one round trip. With no photo to claim and nothing written before
      by the request it runs in autocommit and commits by itself (the ticket stays out of the
      session); otherwise in the session's transaction (the ticket joins the session as if
      loaded). When WeChat checks texts, the facts are read first by themselves (the text is
      checked, with the reporter's openid, before anything is written). The registry the
      submission relies on must be committed, as it always is for a request.
    - On SQLite the facts are read, then the rows written by filing.file_ticket, in the
      session's transaction.
    """
    fingerprint = submission.fingerprint()
    key_hashes = _key_hashes(actor, idempotency_key)
    scan.check_code(submission.code)
    category = _category(submission)
    anonymous = _anonymous(submission, category)
    description = _description(submission.description)
    now = utcnow()
    day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
    params = {
        "code": submission.code, "category_id": category.id, "unit": submission.unit or "",
        "since": now - DUPLICATE_WINDOW, "person_id": actor.person_id,
        "key_hashes": key_hashes, **routing.decision_params(category.kind, category.department_id),
    }
    steps = (
        _submit_in_one_statement if db.engine.dialect.name == "postgresql" else _submit_in_steps
    )
    return steps(actor, submission, category, anonymous, description, now, day, params, key_hashes, fingerprint)


def _submit_in_steps(
    actor, submission, category, anonymous, description, now, day, params, key_hashes, fingerprint,
) -> Filed:
    """The facts read, then the rows written (filing.file_ticket), in the session's
    transaction: SQLite's way (any database can take it)."""
    row = _FACTS[db.engine.dialect.name].first(db.session.connection(), params)
    place = _checked_place(row, submission, fingerprint)
    if isinstance(place, Filed):
        return place
    needs_review = screen_text(row.reporter_openid, description)
    decision = routing.decision_of(row)
    ticket = _new_ticket(
        actor, submission, category, anonymous, description, now, needs_review,
        number=_number(place.ticket_prefix, day), place=place, row=row,
    )
    event = open_ticket(
        ticket, actor, ActionInput(routing=(decision.assignee_id, decision.rule), category=category), now=now
    )
    message = None
    notice = notices.assignee_notice(ticket, event)
    if notice is not None:
        person_id, kind, note = notice
        shown = outbox.ticket_values(ticket, now, category=category.name, place=place.building_name)
        message = outbox.message_row(person_id, kind, {**shown, "note": note}, ticket.id, now)
    if file_ticket(ticket, event, message, key_hashes[0], fingerprint) is None:
        return _twin(key_hashes, fingerprint)
    return _filed(actor, submission, ticket, anonymous, place, category, row)


def _checked_place(row, submission: Submission, fingerprint: str):
    """The Place of a facts row, or the Filed of a replay (the key claimed before); raises
    NotFound/Gone for the code, Invalid for a unit the building does not have."""
    place = scan.place_of_row(row)
    if row.claimed_key is not None:  # a retry of a submission filed before: a replay
        return Filed(_replay(_record([row.claimed_key]), fingerprint), False)
    if submission.unit and row.unit_id is None:
        raise Invalid("该楼栋没有这个单元", errors={"unit": ["该楼栋没有这个单元"]})
    return place


def _twin(key_hashes: list[str], fingerprint: str) -> Filed:
    """The key is taken, by a submission that has committed: a concurrent twin's claim waits
    for the other transaction and finds the row once that one commits."""
    record = _record(key_hashes[:1])
    if record is None or record.ticket_id is None:
        raise RuntimeError("idempotency record without its ticket")
    return Filed(_replay(record, fingerprint), False)


def _new_ticket(
    actor, submission, category, anonymous, description, now, needs_review, *, number, place=None, row=None,
) -> Ticket:
    """The new ticket, transient; without `place` and `row` (PostgreSQL's one statement) the
    columns of the place, unit, duplicate and rider are left for the statement to write."""
    ticket = Ticket(
        id=new_id(),
        number=number,
        kind=category.kind,
        category_id=category.id,
        description=description,
        **wishes.author_columns(
            actor.person_id, anonymous=anonymous, contact_phone=submission.contact_phone,
            created_at=now,
        ),
        needs_review=needs_review,
        photo_ids=list(submission.photo_ids),
        created_at=now,
    )  # the other columns: open_ticket, then their defaults (filing)
    if place is not None:
        ticket.building_id, ticket.grid_id = place.building_id, place.grid_id
        ticket.community_id, ticket.street_id = place.community_id, place.street_id
        ticket.unit_id = row.unit_id if submission.unit else None
        ticket.is_rider_report = bool(row.is_rider)  # a report's only, as the facts read them
        ticket.duplicate_of_id = row.duplicate_id
    return ticket


def _filed(actor, submission, ticket, anonymous, place, category, row) -> Filed:
    """A ticket just written: its photos claimed (the ticket row exists now: their foreign
    key; an anonymous wish forgets its author), and what it shows."""
    claim_photos(actor, submission.photo_ids, ticket.id, forget_uploader=anonymous)
    names = TicketNames(
        building=place.shown(),
        category=(category.code, category.name),
        unit=submission.unit if ticket.unit_id is not None else None,
        assignee=_assignee_shown(row, routing.decision_of(row)),
    )
    return Filed(ticket, True, names)


def _submit_in_one_statement(
    actor, submission, category, anonymous, description, now, day, params, key_hashes, fingerprint,
) -> Filed:
    """PostgreSQL: the rows built with what the facts decide left to the statement
    (filing.routed_statement), then written with the facts read in that same statement."""
    needs_review = False
    if get_wechat().is_configured:  # the text is checked before anything is written
        with read_connection() as connection:
            row = _FACTS["postgresql"].first(connection, params)
        checked = _checked_place(row, submission, fingerprint)
        if isinstance(checked, Filed):
            return checked
        needs_review = screen_text(row.reporter_openid, description)
    ticket = _new_ticket(
        actor, submission, category, anonymous, description, now, needs_review, number=None,
    )
    # Routed for now to a placeholder (a ticket with an assignee); the statement writes the
    # decision, and for a ticket routed to nobody what open_ticket would have written.
    event = open_ticket(ticket, actor, ActionInput(routing=(_SOMEONE, ""), category=category), now=now)
    message = _message(ticket, event, category, now)
    params = {**params, "scope_day": f"-{day}"}
    # The rows are the request's only write unless photos are claimed with them, the request
    # wrote before (the phone page's new guest), or the notice is written apart (_message):
    # then they join the session's transaction.
    on_its_own = message is not None and not submission.photo_ids and not session_in_transaction()
    row = file_routed(
        _ROUTED[message is not None], ticket, event, message, key_hashes[0], fingerprint, params,
        on_its_own=on_its_own,
    )
    if message is not None and row is not None and row.claim_id is None and not row.number_fits:
        # The street's prefix would not go into the notice as it is: the rows without it.
        message = None
        row = file_routed(
            _ROUTED[False], ticket, event, None, key_hashes[0], fingerprint, params, on_its_own=False
        )
    if message is None and row is not None and row.claim_id is not None:
        notices.on_transition(ticket, event)  # the notice, fitted, in the same transaction
    place = _checked_place(row, submission, fingerprint)
    if isinstance(place, Filed):
        return place
    if row.claim_id is None:
        return _twin(key_hashes, fingerprint)
    return _filed(actor, submission, ticket, anonymous, place, category, row)


_SOMEONE = "(routed)"  # a placeholder assignee (filing.routed_statement writes the real one)


def _message(ticket: Ticket, event: TicketEvent, category: scan.CategoryInfo, now) -> dict | None:
    """The assignee's notice as routed_statement writes it (its person and number left to
    the statement), or None: a template that would not show the number as it is, or that
    shows the place (the statement does not fit them), and the caller writes the notice
    itself once the ticket is written (notices.on_transition)."""
    notice = notices.assignee_notice(ticket, event)
    if notice is None:
        return None
    _person, kind, note = notice
    fields = templates.template_for(kind).fields
    takes_number = all(
        templates.keyword_type(key) == "character_string" for key, name in fields.items() if name == "number"
    )
    if not takes_number or "place" in fields.values():
        return None
    shown = outbox.ticket_values(ticket, now, category=category.name, place="")
    values = {**shown, "number": NUMBER_MARK, "note": note}
    return outbox.message_row(_SOMEONE, kind, values, ticket.id, now)


_tickets = Ticket.__table__

# The facts query: the place of the code (registry), the unit by name, what routing needs and
# its decision (routing.with_facts, decision_columns), the oldest open report of the same
# category at the building within a day, the rider, an earlier claim of the key.
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


def _facts_query(dialect_name: str, *, openid: bool = True):
    """The facts of a submission, one row (none for an unknown code).

    A claim of the same Idempotency-Key, hashed with any key still accepted (webapp/keys.py
    verification_keys: the current one, or one of before a rotation), is read too: a retry
    of a submission already filed is replayed before anything is written or numbered. (A
    twin submitted at the same moment finds no claim here and is caught by the claim's
    unique key.) Routing's decision is made here, over the facts (routing.decision_columns).
    The duplicate and the rider are read for a report only; the reporter's openid (WeChat's
    check of the text) unless `openid` is false."""
    claimed_key = (
        select(IdempotencyRecord.key_hash)
        .where(among(IdempotencyRecord.key_hash, dialect_name, "key_hashes"))
        .limit(1)
        .scalar_subquery()
    )
    is_wish = bindparam("is_wish", type_=Boolean)
    facts = routing.with_facts(
        select(
            *scan.PLACE_COLUMNS, _unit_id.label("unit_id"),
            case((is_wish, null()), else_=_duplicate_id).label("duplicate_id"),
            case((is_wish, false()), else_=_is_rider).label("is_rider"),
            claimed_key.label("claimed_key"),
            *([_reporter_openid.label("reporter_openid")] if openid else []),
        ),
        scan.PLACE_OF_CODE,
    ).where(BuildingCode.code == bindparam("code")).subquery("place_facts")
    return select(facts, *routing.decision_columns(facts.c))


_FACTS = {name: PreparedStatement(_facts_query(name)) for name in ("postgresql", "sqlite")}
# PostgreSQL's one statement, with the assignee's notice and without (filing.routed_statement).
_ROUTED = {
    with_message: routed_statement(_facts_query("postgresql", openid=False), with_message=with_message)
    for with_message in (True, False)
}


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


def _number(ticket_prefix: str, day: str) -> str:
    """The human number of a new ticket (SQLite): the street's day (Beijing date) and its
    running number, e.g. JY-20261122-0042, from the day's counter in the submission's
    transaction (SQLite has one writer at a time). On PostgreSQL the submission's statement
    takes it the same way (filing.routed_statement). A submission that fails after this (a
    photo not the sender's) rolls the counter back with it."""
    scope = f"{ticket_prefix}-{day}"
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
