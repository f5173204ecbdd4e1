"""What WeChat tells us by pushing messages: subscription changes and media-check verdicts.

The callback (webapp.wechat_callback) verifies, decrypts and parses a push into a dict (the
same keys whether WeChat sent XML or JSON) and hands it to handle_message().
"""
from __future__ import annotations

import logging

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.notifications import subscriptions
from webapp.tickets.models import Photo, Ticket

log = logging.getLogger(__name__)

MEDIA_CHECK_EVENT = "wxa_media_check"
SUBSCRIPTION_CONTAINERS = {
    subscriptions.POPUP_EVENT: "SubscribeMsgPopupEvent",
    subscriptions.CHANGE_EVENT: "SubscribeMsgChangeEvent",
    subscriptions.SENT_EVENT: "SubscribeMsgSentEvent",
}


def handle_message(message: dict) -> str:
    """Act on one pushed message; returns what it was taken for (for logs and tests).

    Anything else WeChat may push (customer-service messages, other events) is ignored.
    """
    if str(message.get("MsgType") or "").lower() != "event":
        return "ignored"
    event = str(message.get("Event") or "")
    if event in SUBSCRIPTION_CONTAINERS:
        items = subscription_items(message, event)
        subscriptions.apply_subscription_event(str(message.get("FromUserName") or ""), event, items)
        return event
    if event == MEDIA_CHECK_EVENT:
        apply_media_check(str(message.get("trace_id") or ""), media_check_suggest(message))
        return event
    return "ignored"


def subscription_items(message: dict, event: str) -> list[dict]:
    """The List entries of a subscription event, as XML (<X><List>…</List></X>, one entry is
    not a list) or JSON ("X": [...] or "X": {"List": [...]}, or a top-level "List") has them."""
    container = message.get(SUBSCRIPTION_CONTAINERS[event])
    if container is None:
        container = message.get("List")
    if isinstance(container, dict):
        container = container.get("List", container)
    if isinstance(container, dict):
        container = [container]
    return [item for item in (container or []) if isinstance(item, dict)]


def media_check_suggest(message: dict) -> str:
    """The verdict of a media check: v2 puts it in result.suggest (v1 had isrisky).

    A check WeChat could not finish (errcode ≠ 0, no verdict) counts as "review".
    """
    result = message.get("result")
    if isinstance(result, dict) and result.get("suggest") in ("pass", "review", "risky"):
        return result["suggest"]
    if "isrisky" in message:  # v1
        return "risky" if str(message["isrisky"]) == "1" else "pass"
    return "review"


def apply_media_check(trace_id: str, suggest: str) -> int:
    """Act on the verdict for the photo checked under `trace_id`; returns photos affected.

    risky: the photo is hidden (staff still see it) and its ticket is held for review;
    review: the ticket is held for review, the photo stays; pass: nothing. The ticket's status
    is not touched: holding back is the needs_review flag, set with a plain UPDATE so that a
    worker acting on the ticket at the same moment does not get a version conflict.
    """
    if not trace_id:
        return 0
    photos = list(db.session.scalars(select(Photo).where(Photo.check_trace_id == trace_id)))
    if not photos:
        log.info("media check %s: no photo with that trace id", trace_id)
        return 0
    if suggest == "pass":
        return len(photos)
    ticket_ids = {photo.ticket_id for photo in photos if photo.ticket_id}
    if suggest == "risky":
        for photo in photos:
            photo.is_hidden = True
    if ticket_ids:
        db.session.execute(
            update(Ticket)
            .where(Ticket.id.in_(ticket_ids))
            .values(needs_review=True)
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    log.warning("media check %s: %s, photos %s", trace_id, suggest, [p.id for p in photos])
    return len(photos)
