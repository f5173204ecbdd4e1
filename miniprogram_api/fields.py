"""Marshmallow fields shared by the API schemas."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from marshmallow import fields

SHANGHAI = ZoneInfo("Asia/Shanghai")


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
