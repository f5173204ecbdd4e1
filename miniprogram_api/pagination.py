"""Keyset pagination with an opaque cursor: {"items": [...], "next_cursor": "..." | null}."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import and_, or_

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Cursor(fields.String):
    """An opaque cursor, decoded on load to (created_at, id); a bad one is a 422."""

    def _deserialize(self, value, attr, data, **kwargs):
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs))


class PageArgs(Schema):
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT, error="每页条数需在1到100之间"),
    )
    cursor = Cursor(load_default=None)


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ValidationError("无效的分页游标") from None


def newest_first(query, created_col, id_col, cursor: tuple[datetime, str] | None, limit: int):
    """Order newest first and continue after a decoded cursor; fetch one extra row to see if
    there are more."""
    if cursor:
        created_at, row_id = cursor
        query = query.where(
            or_(created_col < created_at, and_(created_col == created_at, id_col < row_id))
        )
    return query.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)


def page(rows: list, limit: int, key) -> tuple[list, str | None]:
    """Cut the extra row off and make the cursor that continues after the last kept row."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    created_at, row_id = key(rows[-1])
    return rows, encode_cursor(created_at, row_id)
