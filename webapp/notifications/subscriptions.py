"""The ledger of subscribe-message consents: how many messages of a template a person accepts.

WeChat's one-time subscriptions grant one message per "accept" of wx.requestSubscribeMessage.
The ledger is fed twice for the same consent when both doors are in use (the mini-program posts
its result to /api/v1/subscriptions and WeChat pushes subscribe_msg_popup_event): it is an upper
bound, never the authority. That is deliberate: counting too many costs one refused send
(errcode 43101, after which the ledger is set to 0, which is then the truth), counting too few
would skip notices WeChat would have delivered.

Long-term templates (长期订阅, WECHAT_LONG_TERM_TEMPLATES; open to government services): one
accept allows any number of messages. Their ledger row is 1 once accepted and is not consumed
by a send; it goes back to 0 only when the consent is revoked (turned off in the settings:
subscribe_msg_change_event "reject"; WeChat refused a send with 43101; "ban").
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from webapp.columns import utcnow
from webapp.extensions import db
from webapp.notifications.models import SubscriptionQuota
from webapp.notifications.templates import is_long_term
from webapp.people.actors import Actor
from webapp.people.models import Person

log = logging.getLogger("gridreport.outbox")

# What wx.requestSubscribeMessage answers per template id. Newer clients answer an accept with
# the alert the person chose: "acceptWithAudio" (voice reminder, documented), "acceptWithAlert"
# (seen since 2022) and possibly more "acceptWith…" values: every one of them is an accept.
ACCEPT, REJECT, BAN, FILTER = "accept", "reject", "ban", "filter"
ACCEPT_WITH_AUDIO, ACCEPT_WITH_ALERT = "acceptWithAudio", "acceptWithAlert"
ACCEPT_PREFIX = "acceptWith"
RESULTS = (ACCEPT, ACCEPT_WITH_AUDIO, ACCEPT_WITH_ALERT, REJECT, BAN, FILTER)


def is_accept(result) -> bool:
    """"accept" or any of its "acceptWith…" forms."""
    return isinstance(result, str) and (result == ACCEPT or result.startswith(ACCEPT_PREFIX))


def add_consent(person_id: str, template_id: str, count: int = 1) -> SubscriptionQuota:
    """`count` more messages of this template agreed to (a one-time template's consents)."""
    quota = _quota(person_id, template_id)
    quota.remaining = max(quota.remaining, 0) + count
    quota.updated_at = utcnow()
    db.session.flush()
    return quota


def grant_consent(person_id: str, template_id: str) -> SubscriptionQuota:
    """One accept: one more message of a one-time template; a long-term template's consent
    (1, however often it is accepted: it is a state, not a count)."""
    if not is_long_term(template_id):
        return add_consent(person_id, template_id)
    quota = _quota(person_id, template_id)
    quota.remaining = max(quota.remaining, 1)
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
    """One message of this template sent: one consent used (never below zero). A long-term
    template's consent is not used up by a send."""
    if is_long_term(template_id):
        return
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


@dataclass
class SubscribeOutcome:
    """What a wx.requestSubscribeMessage result did: the ledger of each template it named, and
    the templates whose answer was not understood (left as they were)."""

    remaining: dict[str, int] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def record_subscribe_results(actor: Actor, results: dict[str, object]) -> SubscribeOutcome:
    """Apply what wx.requestSubscribeMessage answered: {template id: accept|reject|ban|filter}.

    accept (and acceptWithAudio, acceptWithAlert…) adds one message (a long-term template: its
    consent); ban (the template is blocked by WeChat) sets it to 0; reject and filter change
    nothing (a one-time "reject" does not take back earlier consents; a lasting one arrives as
    subscribe_msg_change_event). An answer we do not know (a value a newer client may send) is
    ignored for its template only and reported in `ignored`.
    """
    outcome = SubscribeOutcome()
    for template_id, result in results.items():
        if is_accept(result):
            outcome.remaining[template_id] = grant_consent(actor.person_id, template_id).remaining
        elif result == BAN:
            outcome.remaining[template_id] = revoke_consent(actor.person_id, template_id).remaining
        elif result in (REJECT, FILTER):
            outcome.remaining[template_id] = remaining_consent(actor.person_id, template_id)
        else:
            log.info("subscribe result %r for template %s not understood; ignored", result, template_id)
            outcome.ignored.append(template_id)
    return outcome


# --- events pushed by WeChat ----------------------------------------------------------------

POPUP_EVENT = "subscribe_msg_popup_event"
CHANGE_EVENT = "subscribe_msg_change_event"
SENT_EVENT = "subscribe_msg_sent_event"
EVENTS = (POPUP_EVENT, CHANGE_EVENT, SENT_EVENT)


def apply_subscription_event(openid: str, event: str, items: list[dict]) -> int:
    """Update the ledger from one subscription event; returns how many entries changed it.

    popup "accept" (or "acceptWith…") adds one (a long-term template: its consent); change
    "reject" (turned off in the settings) sets 0; a sent event with ErrorCode 43101 sets 0. An
    openid we do not know is ignored.
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
        if event == POPUP_EVENT and is_accept(status):
            grant_consent(person_id, template_id)
            changed += 1
        elif event == CHANGE_EVENT and status == REJECT:
            revoke_consent(person_id, template_id)
            changed += 1
        elif event == SENT_EVENT and str(item.get("ErrorCode") or "0").strip() == "43101":
            revoke_consent(person_id, template_id)
            changed += 1
    return changed
