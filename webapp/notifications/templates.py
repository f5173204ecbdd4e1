"""Subscribe-message templates: which template a kind of notice uses and how values fit it.

A template is chosen in the WeChat admin console; its keywords are named by type and position
(thing2, time4, ...). WECHAT_TEMPLATES maps each notice kind to a template id and, optionally,
to its own keyword layout; without one the default layout below is used:

    character_string1 工单编号 · thing2 问题 · phrase3 状态 · time4 时间 · thing5 说明

Values are cut to WeChat's limits here (fit_value), so a message never fails on a long text.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app

# Every kind of notice the outbox knows; each has a template (a placeholder in the demo).
KINDS = (
    "ticket_dispatched",
    "ticket_resolved",
    "ticket_closed",
    "ticket_rejected",
    "ticket_merged",
    "ticket_escalated",
    "deadline_warning",
    "ticket_overdue",
    "follower_closed",
)

# How the console names each kind of notice.
KIND_LABELS = {
    "ticket_dispatched": "新工单派达",
    "ticket_resolved": "办结待评价",
    "ticket_closed": "工单办结",
    "ticket_rejected": "工单驳回",
    "ticket_merged": "工单合并",
    "ticket_escalated": "督办上报",
    "deadline_warning": "临期提醒",
    "ticket_overdue": "超期提醒",
    "follower_closed": "关注的问题已办结",
}

DEFAULT_FIELDS = {
    "character_string1": "number",
    "thing2": "category",
    "phrase3": "status",
    "time4": "time",
    "thing5": "note",
}

DEFAULT_PAGE = "pages/ticket/detail?id={ticket_id}"

# WeChat's limits per keyword type (characters; a Chinese character counts as one).
LIMITS = {
    "thing": 20,
    "character_string": 32,
    "phrase": 5,
    "number": 32,
    "letter": 32,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
    "amount": 32,
}
DEFAULT_LIMIT = 20
ELLIPSIS = "…"
EMPTY = "无"
TIME_FORMAT = "{:%Y年%m月%d日 %H:%M}"
DATE_FORMAT = "{:%Y年%m月%d日}"

_KEY_TYPE = re.compile(r"^([a-z_]+?)\d*$")
_NOT_CHARACTER_STRING = re.compile(r"[^0-9A-Za-z!-/:-@\[-`{-~]")
_NOT_NUMBER = re.compile(r"[^0-9.+-]")
_NOT_CHINESE = re.compile(r"[^\u4e00-\u9fff]")


def keyword_type(key: str) -> str:
    """"thing12" → "thing", "character_string1" → "character_string"."""
    match = _KEY_TYPE.match(key)
    return match.group(1) if match else key


def fit_value(kind: str, value) -> str:
    """A value as a keyword of type `kind` accepts it: cut, filtered and formatted.

    thing ≤ 20 characters (cut with an ellipsis), character_string ≤ 32 of letters, digits and
    ASCII symbols, phrase ≤ 5 Chinese characters, number ≤ 32 digits, time "YYYY年MM月DD日
    HH:mm" in Asia/Shanghai (a datetime is formatted; a string is kept). Never returns an
    empty string: WeChat refuses empty keywords.
    """
    if isinstance(value, datetime):
        local = value.astimezone(ZoneInfo("Asia/Shanghai"))
        return (DATE_FORMAT if kind == "date" else TIME_FORMAT).format(local)
    text = " ".join(str(value if value is not None else "").split())
    if kind in ("time", "date"):
        return text or EMPTY
    if kind == "character_string":
        text = _NOT_CHARACTER_STRING.sub("", text)
    elif kind == "number":
        text = _NOT_NUMBER.sub("", text)
    elif kind == "phrase":
        text = _NOT_CHINESE.sub("", text)
    limit = LIMITS.get(kind, DEFAULT_LIMIT)
    if len(text) > limit:
        # Codes and numbers are cut clean: an ellipsis would make them wrong, not short.
        if kind in ("thing", "name"):
            text = text[: limit - 1] + ELLIPSIS
        else:
            text = text[:limit]
    if not text:
        return "-" if kind in ("character_string", "letter") else ("0" if kind == "number" else EMPTY)
    return text


def template_for(kind: str) -> tuple[str, dict[str, str]]:
    """(template id, keyword → value name) for a kind of notice, from WECHAT_TEMPLATES.

    A kind missing from the config gets a placeholder id "demo_<kind>": the demo logs such
    messages; with WeChat configured they fail with WeChat's own error, visible in the outbox.
    """
    configured = (current_app.config.get("WECHAT_TEMPLATES") or {}).get(kind)
    if isinstance(configured, dict):
        return str(configured.get("id") or f"demo_{kind}"), dict(
            configured.get("fields") or DEFAULT_FIELDS
        )
    return str(configured or f"demo_{kind}"), dict(DEFAULT_FIELDS)


def render(kind: str, values: dict) -> tuple[str, dict]:
    """(template id, WeChat `data`) for a notice: each keyword filled and fitted."""
    template_id, fields = template_for(kind)
    data = {
        key: {"value": fit_value(keyword_type(key), values.get(name))}
        for key, name in fields.items()
    }
    return template_id, data


def page_for(ticket_id: str | None) -> str | None:
    """The mini-program page a message opens (the ticket's detail page)."""
    if not ticket_id:
        return None
    pattern = current_app.config.get("WECHAT_MESSAGE_PAGE") or DEFAULT_PAGE
    return pattern.format(ticket_id=ticket_id)
