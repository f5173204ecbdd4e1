"""Column helpers shared by every model: opaque ids and UTC timestamps."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

from sqlalchemy import DateTime, String, TypeDecorator

ID_LENGTH = 22


def new_id() -> str:
    """An opaque, unguessable id (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)[:ID_LENGTH]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so naive values read from it are UTC by convention.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def IdString() -> String:  # noqa: N802 - reads like a type in column declarations
    return String(ID_LENGTH)
