"""One-time codes that bind an imported staff member to the WeChat account that redeems it."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.base import IdString, UTCDateTime, utcnow


class BindCode(db.Model):
    __tablename__ = "bind_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 hex of the code: the code itself is shown once, to whoever issued it.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(IdString(), ForeignKey("people.id"), index=True)
    issued_by: Mapped[Optional[str]] = mapped_column(IdString(), ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    # The openid it bound (for the audit trail of who took over the staff account).
    used_openid: Mapped[Optional[str]] = mapped_column(String(64))

    person = relationship("Person", foreign_keys=[person_id])
