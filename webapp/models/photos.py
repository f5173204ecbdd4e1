"""Uploaded photos: re-encoded without metadata, stored by content hash, attached to a ticket."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import IdString, UTCDateTime, new_id, utcnow


class Photo(db.Model):
    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    # sha256 hex of the stored (re-encoded) bytes; the file is UPLOAD_DIR/<sha[:2]>/<sha>.<ext>.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(20))
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    byte_size: Mapped[int] = mapped_column()
    # Null once attached to an anonymous wish: the photo must not say who sent it.
    uploader_id: Mapped[Optional[str]] = mapped_column(
        IdString(), ForeignKey("people.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set when the ticket (or the ticket action) that uses the photo is submitted.
    ticket_id: Mapped[Optional[str]] = mapped_column(
        IdString(), ForeignKey("tickets.id"), index=True
    )
    # Flagged risky by WeChat's media check: shown only to staff whose scope covers the ticket.
    is_hidden: Mapped[bool] = mapped_column(default=False)
    check_trace_id: Mapped[Optional[str]] = mapped_column(String(64), index=True)
