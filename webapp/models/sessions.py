"""Login sessions of the mini-program: a bearer token, kept only as its SHA-256 hash."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.base import IdString, UTCDateTime, new_id, utcnow


class AuthSession(db.Model):
    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(IdString(), primary_key=True, default=new_id)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    # sha256 hex of the bearer token: a leaked table does not log anyone in.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # WeChat's session_key, Fernet-encrypted with a key derived from SECRET_KEY; never returned.
    wechat_session_key: Mapped[Optional[str]] = mapped_column(Text)
