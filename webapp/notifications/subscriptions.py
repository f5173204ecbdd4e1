"""The ledger of subscribe-message consents: how many messages of a template a person accepts.

WeChat's one-time subscriptions grant one message per "accept" of wx.requestSubscribeMessage.
The ledger is fed twice for the same consent when both doors are in use (the mini-program posts
its result to /api/v1/subscriptions and WeChat pushes subscribe_msg_popup_event): it is an upper
bound, never the authority. That is deliberate: counting too many costs one refused send
(errcode 43101, after which the ledger is set to 0, which is then the truth), counting too few
would skip notices WeChat would have delivered.
"""
from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.columns import utcnow
from webapp.extensions import db
from webapp.notifications.models import SubscriptionQuota
from webapp.people.actors import Actor
from webapp.people.models import Person

log = logging.getLogger("gridreport.outbox")

# What wx.requestSubscribeMessage answers per template id.
ACCEPT, REJECT, BAN, FILTER = "accept", "reject", "ban", "filter"
RESULTS = (ACCEPT, REJECT, BAN, FILTER)


def add_consent(person_id: str, template_id: str, count: int = 1) -> SubscriptionQuota:
    """`count` more messages of this template agreed to."""
    quota = _quota(person_id, template_id)
    quota.remaining = max(quota.remaining, 0) + count
    quota.updated_at = utcnow()
    db.session.flush()
    return quota


def revoke_consent(person_id: str, template_id: str) -> SubscriptionQuota:
    """No more messages of this template (turned off, banned, or WeChat said 43101)."""
    quota = _quota(person_id, template_id)
    quota.remaining = 0
    quota.updated_at = utcnow()
    db.session.flush()
    return quota


def remaining_consent(person_id: str, template_id: str) -> int:
    remaining = db.session.scalar(
        select(SubscriptionQuota.remaining).where(
            SubscriptionQuota.person_id == person_id,
            SubscriptionQuota.template_id == template_id,
        )
    )
    return remaining or 0


def consume_consent(person_id: str, template_id: str) -> None:
    """One message of this template sent: one consent used (never below zero)."""
    db.session.execute(
        update(SubscriptionQuota)
        .where(
            SubscriptionQuota.person_id == person_id,
            SubscriptionQuota.template_id == template_id,
            SubscriptionQuota.remaining > 0,
        )
        .values(remaining=SubscriptionQuota.remaining - 1, updated_at=utcnow())
    )


def _quota(person_id: str, template_id: str) -> SubscriptionQuota:
    """The ledger row, locked, created when missing (insert-or-ignore: safe when concurrent)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(SubscriptionQuota)
        .values(person_id=person_id, template_id=template_id, remaining=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["person_id", "template_id"])
    )
    return db.session.scalars(
        select(SubscriptionQuota)
        .where(
            SubscriptionQuota.person_id == person_id,
            SubscriptionQuota.template_id == template_id,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def record_subscribe_results(actor: Actor, results: dict[str, str]) -> dict[str, int]:
    """Apply what wx.requestSubscribeMessage answered: {template id: accept|reject|ban|filter}.

    accept adds one message; ban (the template is blocked by WeChat) sets it to 0; reject and
    filter change nothing (a one-time "reject" does not take back earlier consents; a lasting
    one arrives as subscribe_msg_change_event). Returns the remaining count per template.
    """
    remaining = {}
    for template_id, result in results.items():
        if result == ACCEPT:
            remaining[template_id] = add_consent(actor.person_id, template_id).remaining
        elif result == BAN:
            remaining[template_id] = revoke_consent(actor.person_id, template_id).remaining
        else:
            remaining[template_id] = remaining_consent(actor.person_id, template_id)
    return remaining


# --- events pushed by WeChat ----------------------------------------------------------------

POPUP_EVENT = "subscribe_msg_popup_event"
CHANGE_EVENT = "subscribe_msg_change_event"
SENT_EVENT = "subscribe_msg_sent_event"
EVENTS = (POPUP_EVENT, CHANGE_EVENT, SENT_EVENT)


def apply_subscription_event(openid: str, event: str, items: list[dict]) -> int:
    """Update the ledger from one subscription event; returns how many entries changed it.

    popup "accept" adds one; change "reject" (turned off in the settings) sets 0; a sent event
    with ErrorCode 43101 sets 0. An openid we do not know is ignored.
    """
    person_id = db.session.scalar(select(Person.id).where(Person.openid == openid))
    if person_id is None:
        log.info("subscription event %s for an unknown openid; ignored", event)
        return 0
    changed = 0
    for item in items:
        template_id = str(item.get("TemplateId") or "").strip()
        if not template_id:
            continue
        status = str(item.get("SubscribeStatusString") or "").strip()
        if event == POPUP_EVENT and status == ACCEPT:
            add_consent(person_id, template_id)
            changed += 1
        elif event == CHANGE_EVENT and status == REJECT:
            revoke_consent(person_id, template_id)
            changed += 1
        elif event == SENT_EVENT and str(item.get("ErrorCode") or "0").strip() == "43101":
            revoke_consent(person_id, template_id)
            changed += 1
    return changed
