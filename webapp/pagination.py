"""Keyset pagination with an opaque cursor: {"items": [...], "next_cursor": "..." | null}.

A cursor is the (created_at, id) of the last row shown, newest first; every list of the
product (the queue, "mine", patrols) pages this way, whichever door shows it.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from sqlalchemy import and_, or_


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, id) of a cursor; ValueError for anything that is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ValueError("无效的分页游标") from None


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
