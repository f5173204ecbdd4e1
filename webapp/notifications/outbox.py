"""The notification outbox: messages written with the change they announce, sent by a drainer.

Producers call enqueue() inside their own transaction; nothing is sent until that transaction
commits, and nothing is written if it rolls back. `flask outbox drain` calls drain() to hand
due messages to WeChat.

Delivery guarantee: at most once, and nothing silently lost.
WeChat's subscribeMessage.send has no idempotency key, so once a request may have reached
WeChat we can never tell "sent" from "not sent" after a crash. Each message goes through
committed steps, and every step is a conditional UPDATE that only the owning drainer can make:

    queued → claimed (a batch, with a lease, committed)
           → sending (this one message, attempts + 1, committed BEFORE the request)
           → sent | queued (retry later) | failed | skipped   (committed after the answer)

A drainer that dies leaves its batch `claimed` (never handed to WeChat) and at most one message
`sending`. When the lease runs out the next drainer puts the claimed ones back in the queue
(they are sent once, later) and marks the `sending` one failed with "发送结果未知" instead of
sending it again: a duplicate push to a resident costs trust and uses up a consent they gave
for the next notice, while a message marked failed is visible in recent_messages() and can be
put back with requeue() by a person who checked. A read timeout from WeChat is the same
uncertainty and is treated the same way; connection errors, "system busy", rate limits and
"sending too fast to one person" (43108) are retried with exponential backoff until
OUTBOX_MAX_ATTEMPTS, then failed. What each of subscribeMessage.send's errcodes means for a
message is in RETRYABLE_ERRCODES / PERMANENT_ERRCODES below; 43101 (no consent left) skips it
and sets the ledger to 0. A retried or failed message uses no consent.

A notice whose values cannot be made valid for its template (templates.render: an enum value
outside the configured ones, a missing amount) is written with the reason in its payload
("unsendable") and skipped by the drainer without a request.

Concurrency: PostgreSQL drainers claim with SELECT ... FOR UPDATE SKIP LOCKED, so any number
can run side by side. SQLite has no row locks: run a single drainer there (the conditional
updates still keep a second one from sending a message twice, but they would contend).

Without WeChat credentials (the demo) a message is "delivered" to the log (logger
"gridreport.outbox"), marked sent with delivered_via "log", and consents are not required.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.columns import utcnow
from webapp.errors import NotFound, WeChatError, WeChatUnavailable
from webapp.extensions import db
from webapp.notifications import templates
from webapp.notifications.models import OutboxMessage, OutboxState
from webapp.notifications.subscriptions import consume_consent, remaining_consent, revoke_consent
from webapp.people.models import Person
from webapp.tickets.models import Ticket
from webapp.wechat import OUTCOME_UNKNOWN_CODE, USER_REFUSED_SUBSCRIBE

log = logging.getLogger("gridreport.outbox")

CHANNEL = "wechat_subscribe"
NOT_SUBSCRIBED = "用户未订阅"
NO_OPENID = "用户未绑定微信"
OUTCOME_UNKNOWN = "发送结果未知（发送中断或微信响应超时），为避免重复未再发送"
# subscribeMessage.send's errcodes (WeChat's doc "发送订阅消息", 错误码, and the global codes).
# Worth another try later: none of these means WeChat acted on the request.
RETRYABLE_ERRCODES = frozenset({
    40001, 42001, 40014,  # the access token refused even after the gateway's one refresh
    43108,  # concurrent calls to the same openid: sending too fast to one person
    45009,  # the daily call quota of the API is used up
    45011,  # the per-minute call quota is used up
})
# Never worth retrying as it is: the message fails, visibly, and a person may requeue it.
# An errcode in neither set fails too.
PERMANENT_ERRCODES = frozenset({
    40003,  # the openid is not valid (not this mini-program's)
    40037,  # the template id is not valid
    41030,  # the page is not a page of the released mini-program
    43107,  # subscribe messages banned for this account or this template
    45168,  # sensitive words in the values
    47003,  # a value does not fit its keyword's rules (fit_value should prevent it)
})

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECONDS = 60
DEFAULT_BACKOFF_MAX_SECONDS = 3600
DEFAULT_LEASE_SECONDS = 120

S = OutboxState


# --- producing ----------------------------------------------------------------------------


def enqueue(
    person_id: str | None,
    kind: str,
    *,
    ticket: Ticket | None = None,
    data: dict | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> OutboxMessage | None:
    """Write one message to `person_id` in the current transaction (flushed, not committed).

    `data` holds the notice's values by name: number, category, status, time, note (any
    other name a configured template layout uses); the ticket fills number, category, status
    and time when not given. They are fitted to the kind's template here.

    With a dedupe_key already written (by this or a concurrent transaction) nothing is written
    and None is returned: producers that may run twice (the deadline command) pass one, e.g.
    f"overdue:{ticket.id}:{level}". Also returns None for a missing person (an anonymous wish).
    """
    if not person_id:
        return None
    now = now or utcnow()
    values = ticket_values(ticket, now) if ticket is not None else {"time": now}
    values.update(data or {})
    row = message_row(person_id, kind, values, ticket.id if ticket is not None else None, now, dedupe_key)
    if dedupe_key is None:
        message = OutboxMessage(**row)
        db.session.add(message)
        db.session.flush()
        return message
    message_id = db.session.execute(_insert_ignoring_duplicates(row)).scalar()
    if message_id is None:
        return None
    return db.session.get(OutboxMessage, message_id)


def message_row(
    person_id: str, kind: str, values: dict, ticket_id: str | None, now: datetime,
    dedupe_key: str | None = None,
) -> dict:
    """The outbox row of one message (values fitted to the kind's template), for a caller
    that writes it in its own statement (enqueue, submission's fast path)."""
    rendered = templates.render(kind, values)
    payload = {"data": rendered.data, "page": templates.page_for(ticket_id)}
    if rendered.unsendable:
        payload["unsendable"] = rendered.unsendable
    return {
        "person_id": person_id,
        "channel": CHANNEL,
        "kind": kind,
        "ticket_id": ticket_id,
        "template_id": rendered.template_id,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "state": S.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _insert_ignoring_duplicates(row: dict):
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, in the session's dialect.

    On PostgreSQL a concurrent writer of the same key waits for the other transaction and then
    does nothing; SQLite serializes writers, so the same statement is enough there.
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(OutboxMessage)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )


def ticket_values(
    ticket: Ticket, now: datetime, *, category: str | None = None, place: str | None = None
) -> dict:
    """A ticket's values for its notices; category and place names when the caller has them
    (else read through the ticket's relationships)."""
    from webapp.tickets.models import STATUS_LABELS

    if category is None:
        category = ticket.category.name if ticket.category is not None else ""
    if place is None:
        place = ticket.building.name if ticket.building is not None else ""
    return {
        "number": ticket.number,
        "category": category,
        "status": STATUS_LABELS.get(ticket.status, ""),
        "place": place,
        "time": now,
    }


# --- draining -----------------------------------------------------------------------------

# A sender hands one message to its channel and says how it went out ("wechat" or "log"); it
# raises WeChatError / WeChatUnavailable as webapp.wechat does. Tests may pass their own.
Sender = Callable[[OutboxMessage, str], str]


def send_via_wechat(message: OutboxMessage, openid: str) -> str:
    """The default sender: WeChat when configured, the application log otherwise."""
    from webapp.wechat import get_wechat

    gateway = get_wechat()
    if not gateway.is_configured:
        log.info(
            "outbox message %s (%s) to %s [%s] %s",
            message.id,
            message.kind,
            message.person_id,
            message.template_id,
            {key: item.get("value") for key, item in (message.payload.get("data") or {}).items()},
        )
        return "log"
    config = current_app.config
    gateway.send_subscribe_message(
        openid,
        message.template_id,
        message.payload.get("data") or {},
        page=message.payload.get("page"),
        miniprogram_state=config.get("WECHAT_MINIPROGRAM_STATE") or "formal",
        lang=config.get("WECHAT_MESSAGE_LANG") or "zh_CN",
    )
    return "wechat"


def needs_consent() -> bool:
    """Consents matter only when messages really go to WeChat (not in the demo)."""
    from webapp.wechat import get_wechat

    return get_wechat().is_configured


def drain(
    batch: int = 100,
    *,
    send: Sender | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Send the due messages, at most `batch` of them; returns counts by outcome.

    Commits: this is a job of its own, not part of a request. See the module docstring for
    the guarantee. `now` fixes the clock (tests); by default each step reads the time.
    """
    send = send or send_via_wechat
    clock = (lambda: now) if now is not None else utcnow
    settings = _settings()
    drainer = uuid.uuid4().hex
    counts = {"claimed": 0, "sent": 0, "retry": 0, "failed": 0, "skipped": 0, "lost_lease": 0}
    counts.update(recover_expired(now=clock()))
    consent_required = needs_consent()
    for message_id in _claim(batch, drainer, clock(), settings["lease"]):
        counts["claimed"] += 1
        outcome = _deliver_one(message_id, drainer, send, clock, settings, consent_required)
        counts[outcome] += 1
    return counts


def recover_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Deal with messages whose drainer died: claimed → queued, sending → failed (unknown)."""
    now = now or utcnow()
    requeued = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == S.CLAIMED, OutboxMessage.lease_until < now)
        .values(state=S.QUEUED, claimed_by=None, lease_until=None)
    ).rowcount
    abandoned = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == S.SENDING, OutboxMessage.lease_until < now)
        .values(state=S.FAILED, claimed_by=None, lease_until=None, last_error=OUTCOME_UNKNOWN)
    ).rowcount
    db.session.commit()
    if requeued or abandoned:
        log.warning(
            "outbox recovery: %s claimed message(s) back in the queue, %s with unknown outcome "
            "marked failed",
            requeued,
            abandoned,
        )
    return {"requeued": requeued, "abandoned": abandoned}


def _claim(batch: int, drainer: str, now: datetime, lease: timedelta) -> list[int]:
    """Take up to `batch` due messages for this drainer, committed with a lease."""
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.state == S.QUEUED, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders no locking clause
    )
    ids = list(db.session.scalars(due))
    if ids:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.state == S.QUEUED)
            .values(state=S.CLAIMED, claimed_by=drainer, lease_until=now + lease)
        )
    db.session.commit()
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.claimed_by == drainer, OutboxMessage.state == S.CLAIMED)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        )
    )


def _deliver_one(message_id, drainer, send, clock, settings, consent_required) -> str:
    # Step 1: settle what needs no request, or mark it `sending` (committed before sending).
    message = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .execution_options(populate_existing=True)
    ).one()
    if message.state is not S.CLAIMED or message.claimed_by != drainer:
        db.session.rollback()
        return "lost_lease"  # another drainer recovered it after our lease ran out
    openid = db.session.scalar(select(Person.openid).where(Person.id == message.person_id))
    reason = None
    if (message.payload or {}).get("unsendable"):
        reason = str(message.payload["unsendable"])[:500]
    elif consent_required and not openid:
        reason = NO_OPENID
    elif consent_required and remaining_consent(message.person_id, message.template_id) <= 0:
        reason = NOT_SUBSCRIBED
    if reason:
        _finish(message_id, drainer, S.CLAIMED, state=S.SKIPPED, last_error=reason)
        return "skipped"
    started = _guarded_update(
        message_id,
        drainer,
        S.CLAIMED,
        state=S.SENDING,
        attempts=OutboxMessage.attempts + 1,
        lease_until=clock() + settings["lease"],
    )
    db.session.commit()
    if not started:
        return "lost_lease"
    db.session.refresh(message)
    db.session.expunge(message)  # keeps its loaded values; the send reads nothing more
    db.session.rollback()

    # Step 2: the request, with no transaction open (no idle transaction while WeChat answers).
    try:
        via = send(message, openid or "")
    except WeChatError as error:
        return _after_error(message, drainer, error, clock(), settings)
    except Exception as error:  # a bug or an unexpected failure before the request: retry
        log.exception("outbox message %s: unexpected error while sending", message_id)
        return _after_error(message, drainer, error, clock(), settings)

    # Step 3: record it.
    if via == "wechat":
        consume_consent(message.person_id, message.template_id)
    finished = _finish(
        message_id,
        drainer,
        S.SENDING,
        state=S.SENT,
        sent_at=clock(),
        delivered_via=via,
        last_error=None,
    )
    if not finished:  # recovered as unknown while we were sending: it did go out
        _finish(message_id, None, S.FAILED, state=S.SENT, sent_at=clock(), delivered_via=via)
        log.warning("outbox message %s was sent after its lease ran out", message_id)
    return "sent"


def _after_error(message, drainer, error, now, settings) -> str:
    errcode = getattr(error, "errcode", None)
    described = _describe(error)
    if errcode == USER_REFUSED_SUBSCRIBE:
        # WeChat says no consent is left: our ledger was wrong; make it agree.
        revoke_consent(message.person_id, message.template_id)
        _finish(message.id, drainer, S.SENDING, state=S.SKIPPED, last_error=f"{NOT_SUBSCRIBED}（{described}）")
        return "skipped"
    if isinstance(error, WeChatUnavailable) and error.code == OUTCOME_UNKNOWN_CODE:
        _finish(message.id, drainer, S.SENDING, state=S.FAILED, last_error=OUTCOME_UNKNOWN)
        return "failed"
    transient = (
        isinstance(error, WeChatUnavailable)
        or errcode in RETRYABLE_ERRCODES
        or not isinstance(error, WeChatError)
    )
    if not transient or message.attempts >= settings["max_attempts"]:
        _finish(message.id, drainer, S.SENDING, state=S.FAILED, last_error=described)
        return "failed"
    delay = min(
        settings["backoff"] * 2 ** max(message.attempts - 1, 0), settings["backoff_max"]
    )
    _finish(
        message.id,
        drainer,
        S.SENDING,
        state=S.QUEUED,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=described,
    )
    return "retry"


def _describe(error: Exception) -> str:
    errcode = getattr(error, "errcode", None)
    errmsg = getattr(error, "errmsg", None)
    if errcode is not None:
        return f"errcode {errcode}: {errmsg or error}"[:500]
    return f"{type(error).__name__}: {error}"[:500]


def _guarded_update(message_id, drainer, expected: OutboxState, **values) -> bool:
    """Change a message only if it is still in `expected` and (if given) ours."""
    query = update(OutboxMessage).where(
        OutboxMessage.id == message_id, OutboxMessage.state == expected
    )
    if drainer is not None:
        query = query.where(OutboxMessage.claimed_by == drainer)
    return db.session.execute(query.values(**values)).rowcount == 1


def _finish(message_id, drainer, expected: OutboxState, **values) -> bool:
    values.setdefault("lease_until", None)
    values.setdefault("claimed_by", None)
    done = _guarded_update(message_id, drainer, expected, **values)
    db.session.commit()
    return done


def _settings() -> dict:
    config = current_app.config
    return {
        "max_attempts": int(config.get("OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
        "backoff": float(config.get("OUTBOX_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS)),
        "backoff_max": float(
            config.get("OUTBOX_BACKOFF_MAX_SECONDS", DEFAULT_BACKOFF_MAX_SECONDS)
        ),
        "lease": timedelta(seconds=float(config.get("OUTBOX_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))),
    }


# --- reading and repairing ------------------------------------------------------------------


def recent_messages(limit: int = 50) -> list[OutboxMessage]:
    """The newest messages, for the console to show what went out and what did not."""
    return list(
        db.session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 500)))
        )
    )


def requeue(message_id: int, *, now: datetime | None = None) -> OutboxMessage:
    """Put a failed or skipped message back in the queue (a person decided to send it again).

    Raises NotFound for an unknown id. A message not in a final state is left as it is.
    """
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("未找到该消息", code="message_not_found")
    if message.state in (S.FAILED, S.SKIPPED):
        message.state = S.QUEUED
        message.attempts = 0
        message.next_attempt_at = now or utcnow()
        message.last_error = None
        db.session.flush()
    return message
