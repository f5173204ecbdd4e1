"""Marshmallow fields shared by the API schemas."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from marshmallow import fields, validate

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The largest id an integer column holds on PostgreSQL (SQLite's is larger): a larger id in a
# query must be refused (422) here, not reach the database and fail there (500).
MAX_ROW_ID = 2**31 - 1


def row_id(**kwargs) -> fields.Integer:
    """An id of a table row given in a request (a grid, a community): 1 to MAX_ROW_ID, else 422;
    the document states the range."""
    return fields.Integer(
        validate=validate.Range(min=1, max=MAX_ROW_ID, error="id 应为正整数，且不超过2147483647"),
        **kwargs,
    )


def local_time(value: datetime | None) -> datetime | None:
    """An aware timestamp in Asia/Shanghai: what the app's JSON writer writes as local_iso
    does (webapp/json_provider.py), for responses made without a schema."""
    if value is None:
        return None
    return value.astimezone(SHANGHAI)


def local_iso(value: datetime | None) -> str | None:
    """A UTC timestamp as the API shows it: Asia/Shanghai, ISO 8601 with its offset (the one
    formatting of LocalDateTime)."""
    local = local_time(value)
    return None if local is None else local.isoformat()


class LocalDateTime(fields.DateTime):
    """A UTC timestamp shown in Asia/Shanghai, ISO 8601 with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        return local_iso(value)


class WholeNumber(fields.Integer):
    """An integer of a JSON body: 4.5, "4" and true are refused (422), never rounded or cast.

    fields.Integer alone stores 4.5 as 4; with strict=True it still takes true as 1.
    """

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)
