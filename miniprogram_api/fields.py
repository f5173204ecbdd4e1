"""Marshmallow fields shared by the API schemas."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from marshmallow import fields

SHANGHAI = ZoneInfo("Asia/Shanghai")


class LocalDateTime(fields.DateTime):
    """A UTC timestamp shown in Asia/Shanghai, ISO 8601 with its offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(SHANGHAI).isoformat()
