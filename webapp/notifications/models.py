"""The notification outbox and the ledger of WeChat subscribe-message consents.

A message is written in the same transaction as the change it announces and sent later by the
drainer (webapp.notifications.outbox.drain), so a notification is never lost to a failed request and
never sent for a change that was rolled back.
"""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.columns import IdString, UTCDateTime, utcnow
from webapp.extensions import db


class OutboxState(str, enum.Enum):
    """Where a message is in its delivery (named `state`, never `status`: only tickets have
    a status, and only the state machine writes it)."""

    QUEUED = "queued"  # due at next_attempt_at
    CLAIMED = "claimed"  # taken by a drainer (lease), not yet handed to WeChat
    SENDING = "sending"  # being handed to WeChat right now: the outcome is not known yet
    SENT = "sent"
    FAILED = "failed"  # given up: attempts exhausted or outcome unknown
    SKIPPED = "skipped"  # never to be sent: no consent, refused (43101), no openid


FINAL_STATES = (OutboxState.SENT, OutboxState.FAILED, OutboxState.SKIPPED)


class OutboxMessage(db.Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="wechat_subscribe")
    kind: Mapped[str] = mapped_column(String(30))
    ticket_id: Mapped[Optional[str]] = mapped_column(
        IdString(), ForeignKey("tickets.id"), index=True
    )
    # The template this message uses (its consent is counted per template).
    template_id: Mapped[str] = mapped_column(String(64))
    # {"data": {"thing2": {"value": "..."}}, "page": "..."}: values already cut to WeChat's limits.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # Set for a message meant once (e.g. "overdue:<ticket>:<level>"): a second write is a no-op.
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(120), unique=True)
    state: Mapped[OutboxState] = mapped_column(
        Enum(
            OutboxState,
            native_enum=False,
            length=10,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=OutboxState.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A claimed or sending message belongs to its drainer until then.
    lease_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    claimed_by: Mapped[Optional[str]] = mapped_column(String(40))
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    # How it went out: "wechat", or "log" when WeChat is not configured (the demo).
    delivered_via: Mapped[Optional[str]] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())

    person = relationship("Person")


class SubscriptionQuota(db.Model):
    """How many more subscribe messages of one template a person has agreed to receive.

    WeChat's one-time subscriptions grant one message per consent; every accepted
    wx.requestSubscribeMessage adds one, every send takes one.
    """

    __tablename__ = "subscription_quotas"
    __table_args__ = (
        UniqueConstraint("person_id", "template_id", name="uq_subscription_quotas_person_template"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    remaining: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WeChatPush(db.Model):
    """What WeChat's callback (webapp.wechat_callback) has already accepted: one row per push
    acted on (its message key: MsgId, or FromUserName + CreateTime + event + subject) and one
    per signed query string used (timestamp + nonce + signature), each as a SHA-256 hex.

    The row is written in the transaction that acts on the push, so a retry is acted on once
    and a replayed query string is refused, across processes. Rows older than a few days are
    purged by `flask maintenance purge` (webapp.notifications.wechat_events.purge_pushes).
    """

    __tablename__ = "wechat_pushes"

    id: Mapped[int] = mapped_column(primary_key=True)
    push_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
