"""What WeChat tells us by pushing messages: reading a push, and remembering the ones accepted.

The callback (webapp.wechat_callback) verifies, decrypts and parses a push into a dict (the
same keys whether WeChat sent XML or JSON), remembers it here (remember_push), and has the
feature it concerns act on it:

- subscription events (subscribe_msg_popup_event / _change_event / _sent_event): the consent
  ledger, here (apply_subscription_event → webapp.notifications.subscriptions);
- wxa_media_check (the verdict of mediaCheckAsync v2 on a photo): media_check_of() reads it,
  webapp.tickets.photos.record_media_check acts on it;
- user_authorization_revoke / user_authorization_cancellation (the user withdrew their consent
  or closed their WeChat account): authorization_openid() reads whom it names,
  webapp.people.erasure.forget_wechat_user forgets them. user_info_modified (WeChat cleaned a
  user's nickname or avatar) needs nothing: the app keeps neither.

Retries and replays (remember_push, the wechat_pushes table): WeChat retries a push it got no
answer to within 5 seconds, up to three times, with the same content. Each push accepted is
remembered by its message key, WeChat's rule for de-duplication: MsgId for a message that has
one, else FromUserName + CreateTime, with the event's name and its subject (the trace_id of a
media check, the OpenID of an authorization change, whose FromUserName is WeChat's own account
for every user) so that two users' events of the same second are not taken for one. Each
signed query string used (timestamp + nonce + signature) is remembered too, so that one seen in
a log cannot carry another body. Rows are purged after a few days (purge_pushes).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from webapp.columns import utcnow
from webapp.extensions import db
from webapp.notifications import subscriptions
from webapp.notifications.models import WeChatPush

log = logging.getLogger(__name__)

MEDIA_CHECK_EVENT = "wxa_media_check"
SUBSCRIPTION_CONTAINERS = {
    subscriptions.POPUP_EVENT: "SubscribeMsgPopupEvent",
    subscriptions.CHANGE_EVENT: "SubscribeMsgChangeEvent",
    subscriptions.SENT_EVENT: "SubscribeMsgSentEvent",
}
REVOKE_EVENT = "user_authorization_revoke"
CANCELLATION_EVENT = "user_authorization_cancellation"
USER_INFO_MODIFIED_EVENT = "user_info_modified"
AUTHORIZATION_EVENTS = (REVOKE_EVENT, CANCELLATION_EVENT)

PUSH_KEEP = timedelta(days=7)  # how long an accepted push is remembered (purge_pushes)


# --- reading a push --------------------------------------------------------------------------


def field(message: dict, name: str):
    """A field of a push by name, forgiving case and stray spaces in the key (WeChat's own
    JSON example of an authorization change writes " OpenID")."""
    if name in message:
        return message[name]
    wanted = name.lower()
    for key, value in message.items():
        if isinstance(key, str) and key.strip().lower() == wanted:
            return value
    return None


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def event_of(message: dict) -> str:
    """The event a push carries, or "" for anything that is not an event (MsgType ≠ event)."""
    if _text(field(message, "MsgType")).lower() != "event":
        return ""
    return _text(field(message, "Event"))


def apply_subscription_event(message: dict, event: str) -> None:
    """A subscription event: the consent ledger of the user who sent it (FromUserName)."""
    items = subscription_items(message, event)
    subscriptions.apply_subscription_event(_text(message.get("FromUserName")), event, items)


def subscription_items(message: dict, event: str) -> list[dict]:
    """The List entries of a subscription event, as XML (<X><List>…</List></X>, one entry is
    not a list) or JSON ("X": [...] or "X": {"List": [...] or {...}}, or a top-level "List")
    has them."""
    container = message.get(SUBSCRIPTION_CONTAINERS[event])
    if container is None:
        container = message.get("List")
    if isinstance(container, dict):
        container = container.get("List", container)
    if isinstance(container, dict):
        container = [container]
    return [item for item in (container or []) if isinstance(item, dict)]


def media_check_of(message: dict) -> tuple[str, str]:
    """(trace_id, verdict) of a wxa_media_check push.

    The verdict is result.suggest in v2 ("pass", "review", "risky"; v1 had isrisky); a check
    WeChat could not finish (errcode ≠ 0, no verdict) counts as "review".
    """
    trace_id = _text(field(message, "trace_id"))
    result = field(message, "result")
    if isinstance(result, dict) and result.get("suggest") in ("pass", "review", "risky"):
        return trace_id, result["suggest"]
    if field(message, "isrisky") is not None:  # v1
        return trace_id, "risky" if _text(field(message, "isrisky")) == "1" else "pass"
    return trace_id, "review"


def authorization_openid(message: dict) -> str:
    """The user an authorization change names (OpenID; FromUserName is WeChat's account)."""
    return _text(field(message, "OpenID"))


# --- remembering the pushes accepted -----------------------------------------------------------


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def push_key(message: dict) -> str:
    """The key one push and its retries share (see the module docstring)."""
    msg_id = _text(field(message, "MsgId"))
    if msg_id:
        return _digest(f"msg\x1f{msg_id}")
    created = _text(field(message, "CreateTime"))
    if created:
        event = event_of(message)
        if event == MEDIA_CHECK_EVENT:
            subject = _text(field(message, "trace_id"))
        elif event in AUTHORIZATION_EVENTS or event == USER_INFO_MODIFIED_EVENT:
            subject = authorization_openid(message)
        else:
            subject = ""
        parts = (_text(field(message, "FromUserName")), created, event, subject)
        return _digest("event\x1f" + "\x1f".join(parts))
    # Not a message WeChat documents: the whole of it is its key.
    return _digest("body\x1f" + json.dumps(message, sort_keys=True, ensure_ascii=False, default=str))


def query_key(timestamp: str, nonce: str, signature: str) -> str:
    """The key of one signed query string (it may be used once)."""
    return _digest(f"query\x1f{timestamp}\x1f{nonce}\x1f{signature}")


def remember_push(key: str, *, now: datetime | None = None) -> bool:
    """Remember a key in the session's transaction; False if it was remembered already.

    Insert-or-ignore: on PostgreSQL a second transaction with the same key waits for the
    first and then finds it (if that one commits) or takes it (if it rolls back), so a push is
    acted on once even when two processes get it at the same moment.
    """
    values = {"push_key": key, "received_at": now or utcnow()}
    table = WeChatPush.__table__
    dialect = db.session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(table).values(values)
            .on_conflict_do_nothing(index_elements=["push_key"])
            .returning(table.c.id)  # a row when inserted, none when the key was there
        )
        return db.session.execute(statement).first() is not None
    try:
        with db.session.begin_nested():
            db.session.execute(table.insert().values(values))
    except IntegrityError:
        return False
    return True


def purge_pushes(older_than: timedelta = PUSH_KEEP, *, now: datetime | None = None) -> int:
    """Forget the pushes accepted more than `older_than` ago; returns how many rows went.

    Never younger than twice WECHAT_PUSH_MAX_AGE_SECONDS: a signed query string is accepted
    that long around its timestamp, and must be remembered as long. The caller commits.
    """
    window = timedelta(seconds=2 * float(current_app.config["WECHAT_PUSH_MAX_AGE_SECONDS"]))
    cutoff = (now or utcnow()) - max(older_than, window)
    result = db.session.execute(delete(WeChatPush).where(WeChatPush.received_at < cutoff))
    if result.rowcount:
        log.info("purged %d remembered WeChat pushes older than %s", result.rowcount, cutoff)
    return result.rowcount
