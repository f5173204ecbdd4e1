"""One guard for every request's text: no NUL character and no lone surrogate.

PostgreSQL stores neither in text (psycopg refuses a NUL, json refuses "\\u0000", a lone
surrogate cannot be encoded to UTF-8), and no person types them: they come from broken or
hostile clients. Checked once, before any view runs, over the path's values (`/tickets/<id>`),
the query string, form fields and JSON body of every door (the mini-program's API, the phone page, the console), so that such a
request gets a clear 422 naming the field instead of failing inside a write. A JSON body
nested too deeply to read is a 400, like any malformed body.
"""
from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from webapp.errors import Invalid

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MESSAGE = "内容中含有无法识别的字符，请删除后重试"


def _bad_field(value, path: str) -> str | None:
    """The dotted path of the first string in `value` that holds an unstorable character."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _UNSTORABLE.search(str(key)):
                return where
            found = _bad_field(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _bad_field(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def check_request_text() -> None:
    """Raise Invalid (422) when the request's path values, query, form or JSON body hold a NUL
    or a lone surrogate."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and _UNSTORABLE.search(value):
            _refuse(name)
    if request.query_string:
        _check_pairs(request.args)
    if request.mimetype in _FORM_TYPES:
        try:
            form = request.form
        except RequestEntityTooLarge:
            return  # the view says so in its own words (the phone page keeps the input)
        _check_pairs(form)
    elif request.is_json:
        try:
            found = _bad_field(request.get_json(silent=True), "")
        except RecursionError:  # nested thousands deep: no client of ours sends that
            raise BadRequest("JSON nested too deeply") from None
        if found is not None:
            _refuse(found or "_schema")


_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def _check_pairs(pairs) -> None:
    for key, value in pairs.items(multi=True):
        if _UNSTORABLE.search(key) or _UNSTORABLE.search(value):
            _refuse(key)


def _refuse(field: str) -> None:
    raise Invalid(MESSAGE, code="invalid_characters", errors={_UNSTORABLE.sub("\ufffd", field): [MESSAGE]})


def register_input_guard(app: Flask) -> None:
    app.before_request(check_request_text)
