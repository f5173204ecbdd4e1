"""The query arguments of a paginated list: ?limit= and the opaque ?cursor= (webapp.pagination)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from webapp.pagination import decode_cursor

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Cursor(fields.String):
    """An opaque cursor, decoded on load to (created_at, id); a bad one is a 422."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return decode_cursor(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as error:
            raise ValidationError(str(error)) from None


class PageArgs(Schema):
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT, error="每页条数需在1到100之间"),
    )
    cursor = Cursor(
        load_default=None,
        metadata={
            "description": "上一页返回的 next_cursor，原样传回；其他值：422",
            "pattern": "^[A-Za-z0-9_-]+$",
        },
    )
