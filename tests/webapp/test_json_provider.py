"""The app's JSON writer (orjson) writes what Flask's default writer wrote, with ISO 8601
timestamps; the console's cookie session is opened only when its cookie is sent."""
from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

from flask import session
from markupsafe import Markup

from miniprogram_api.fields import local_iso, local_time

STAMPS = [
    datetime(2026, 11, 22, 8, 30, 5, 123456, tzinfo=timezone.utc),
    datetime(2026, 11, 22, 8, 30, 5, 120000, tzinfo=timezone.utc),  # trailing zeros kept
    datetime(2026, 11, 22, 8, 30, 5, 1, tzinfo=timezone.utc),
    datetime(2026, 11, 22, 8, 30, 5, tzinfo=timezone.utc),  # no fraction at all
    datetime(2026, 12, 31, 20, 0, 0, 500000, tzinfo=timezone.utc),  # the next day in Shanghai
]


@dataclasses.dataclass
class Point:
    x: int
    label: str


def _stdlib(value) -> str:
    """What Flask's default provider wrote for a response (ensure_ascii=False, compact)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_a_local_datetime_is_written_as_local_iso_writes_it(app):
    for stamp in STAMPS:
        written = app.json.dumps({"at": local_time(stamp)})
        assert written == _stdlib({"at": local_iso(stamp)}), stamp
        assert app.json.dumps(stamp) == json.dumps(stamp.isoformat())  # UTC keeps +00:00
    assert app.json.dumps({"d": date(2026, 11, 22)}) == '{"d":"2026-11-22"}'


def test_a_response_is_what_flask_wrote(app):
    value = {
        "说明": "楼道灯坏了，晚上很黑\n\t\"引号\" \\ \u2028 \x01",
        "zebra": 1, "apple": [1.5, None, True, False, -3, 2**40],
        "nested": {"b": {"c": []}, "a": {}},
        1: "int key",
    }
    with app.test_request_context():
        body = app.json.response(value).get_data(as_text=True)
    assert body == _stdlib(value) + "\n"  # keys in their order, UTF-8, a final newline
    assert json.loads(body) == json.loads(_stdlib(value))


def test_what_the_standard_library_could_not_write_is_written_plainly(app):
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    written = json.loads(app.json.dumps({
        "price": Decimal("12.50"), "id": ident, "point": Point(1, "东门"), "html": Markup("<b>x</b>"),
    }))
    assert written == {
        "price": "12.50", "id": str(ident), "point": {"x": 1, "label": "东门"}, "html": "<b>x</b>",
    }


def test_sorting_indenting_and_other_arguments(app):
    assert app.json.dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'
    assert app.json.dumps({"a": [1]}, indent=2) == '{\n  "a": [\n    1\n  ]\n}'
    # An argument orjson has no equivalent of goes to the standard library.
    assert app.json.dumps({"名": "张"}, ensure_ascii=True) == '{"\\u540d": "\\u5f20"}'
    # Reading stays with the standard library (lone surrogates reach the input guard).
    assert app.json.loads('{"a": "\\ud800"}') == {"a": "\ud800"}


def test_templates_embed_json_safely(app):
    with app.test_request_context():
        rendered = app.jinja_env.from_string("{{ v|tojson }}").render(v={"s": "</script><b>&'"})
    assert "</script>" not in rendered
    assert json.loads(rendered) == {"s": "</script><b>&'"}


def test_the_cookie_session_opens_only_with_its_cookie(app):
    interface = app.session_interface
    with app.test_request_context("/"):
        opened = interface.open_session(app, app.request_class({"wsgi.url_scheme": "http"}))
        assert opened == {} and not opened.modified
    # With the cookie: the parent's signed session, read back as written.
    with app.test_request_context("/"):
        session["who"] = "张桂"
        response = app.response_class()
        interface.save_session(app, session, response)
        cookie = response.headers["Set-Cookie"].split(";", 1)[0]
    environ = {"wsgi.url_scheme": "http", "HTTP_COOKIE": cookie}
    with app.test_request_context("/", environ_base=environ) as ctx:
        assert interface.open_session(app, ctx.request) == {"who": "张桂"}
    # A forged cookie is an empty session, as before.
    forged = {"wsgi.url_scheme": "http", "HTTP_COOKIE": cookie[:-3] + "xyz"}
    with app.test_request_context("/", environ_base=forged) as ctx:
        assert interface.open_session(app, ctx.request) == {}
