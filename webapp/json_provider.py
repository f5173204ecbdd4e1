"""The app's JSON writer: orjson, several times faster than the standard library on the lists
staff and residents read all day (a work queue page is 14 kB).

Its output is what Flask's default provider writes with ensure_ascii=False and
sort_keys=False (UTF-8 as is, keys in their order, compact; indented in debug), except for
dates and datetimes, written in ISO 8601 with their own offset (an aware Asia/Shanghai
datetime exactly as fields.local_iso writes it) instead of an HTTP date. The API's schemas
format their timestamps themselves; a view that skips the schema may hand the writer
Shanghai-local datetimes. Reading JSON stays with the standard library: what it accepts is
what webapp/inputs.py checks.
"""
from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider

# What orjson can honour of json.dumps's arguments; any other goes to the standard library.
_HANDLED = frozenset({"default", "sort_keys", "indent", "separators"})


class OrjsonProvider(DefaultJSONProvider):
    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj, **kwargs) -> str:
        if not _HANDLED.issuperset(kwargs):
            return super().dumps(obj, **kwargs)
        return self._bytes(obj, kwargs.get("sort_keys"), bool(kwargs.get("indent")), kwargs.get("default")).decode()

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        indent = (self.compact is None and self._app.debug) or self.compact is False
        body = self._bytes(obj, None, indent, None) + b"\n"  # Flask ends its bodies with one
        return self._app.response_class(body, mimetype=self.mimetype)

    def _bytes(self, obj, sort_keys, indent: bool, default) -> bytes:
        option = orjson.OPT_NON_STR_KEYS  # {1: ...} as the standard library writes it: {"1": ...}
        if self.sort_keys if sort_keys is None else sort_keys:
            option |= orjson.OPT_SORT_KEYS
        if indent:
            option |= orjson.OPT_INDENT_2
        return orjson.dumps(obj, default=default or self.default, option=option)
