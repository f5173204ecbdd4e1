"""Subscribe-message templates: which template a kind of notice uses and how values fit it.

A template is chosen in the WeChat admin console; its keywords are named by type and position
(thing2, time4, ...). WECHAT_TEMPLATES maps each notice kind to a template id and, optionally,
to its own keyword layout (and the allowed values of its `enum` keywords); without a layout the
default one below is used:

    character_string1 工单编号 · thing2 问题 · phrase3 状态 · time4 时间 · thing5 说明

Every value is fitted to its keyword's type here (fit_value), by the rules of WeChat's
subscribeMessage.send ("订阅消息参数值内容限制说明"), so that WeChat never refuses a message for
its values (errcode 47003). A value that cannot be made valid without inventing it (an `enum`
value outside the configured ones, an `amount` that is missing or not an amount) makes the
notice unsendable: it is still written, and the drainer marks it skipped with the reason.

WECHAT_LONG_TERM_TEMPLATES names the long-term templates (长期订阅): one consent allows any
number of their messages (see subscriptions.py).
"""
from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import NamedTuple, Sequence
from zoneinfo import ZoneInfo

from flask import current_app

from webapp.columns import utcnow

log = logging.getLogger("gridreport.outbox")

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

# WeChat's length limits per keyword type (characters; a Chinese character counts as one).
# `name` is 10 when it has Chinese in it, 20 when it is letters and symbols only.
LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "latin_name": 20,
    "phrase": 5,
    "amount_digits": 10,
}
# The types fit_value knows; a keyword of another type is fitted as a thing.
TYPES = (
    "thing", "number", "letter", "symbol", "character_string", "time", "date", "amount",
    "phone_number", "car_number", "name", "phrase", "enum",
)
ELLIPSIS = "…"
# What a type shows for a value the notice lacks: each one valid for its type.
PLACEHOLDERS = {
    "thing": "无",
    "phrase": "无",
    "name": "无",
    "car_number": "无",
    "number": "0",
    "letter": "NA",
    "symbol": "-",
    "character_string": "-",
    "phone_number": "-",
}
TIME_FORMAT = "{:%Y年%m月%d日 %H:%M}"
DATE_FORMAT = "{:%Y年%m月%d日}"
SHANGHAI = ZoneInfo("Asia/Shanghai")

_KEY_TYPE = re.compile(r"^([a-z_]+?)\d*$")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_ASCII_SYMBOLS = r"!-/:-@\[-`{-~"
_NOT_CHARACTER_STRING = re.compile(rf"[^0-9A-Za-z{_ASCII_SYMBOLS}]")
# The same as a PostgreSQL pattern of a whole text: printable ASCII but the space, what a
# character_string keeps as it is (up to its length). The submission's statement writes a
# ticket's number into a notice itself only for a street prefix that matches it
# (webapp/tickets/filing.py, routed_statement).
NUMBER_FITS_SQL = "^[!-~]*$"
_NOT_LETTER = re.compile(r"[^A-Za-z]")
_NOT_CHINESE = re.compile(rf"[^{_CJK}]")
_HAS_CHINESE = re.compile(rf"[{_CJK}]")
_NOT_CHINESE_NAME = re.compile(rf"[^{_CJK}A-Za-z·]")
_NOT_LATIN_NAME = re.compile(rf"[^A-Za-z {_ASCII_SYMBOLS}]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PHONE = re.compile(rf"[0-9{_ASCII_SYMBOLS}]*\d[0-9{_ASCII_SYMBOLS}]*")
_CAR_NUMBER = re.compile(rf"^[{_CJK}A-Z0-9](?:[A-Z0-9]{{0,6}}[{_CJK}A-Z0-9])?$")
_CAR_SEPARATORS = re.compile(r"[\s·•.\-]")
_AMOUNT = re.compile(r"^([¥￥$€£])?(\d{1,10})(\.\d+)?(元)?$")
_CURRENCY = "¥"
# time: a 24-hour time, with a date before it or not; date: a date, with a time after it or
# not; either may be a range of two such points joined by "~".
_HM = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_DATE = (
    rf"(?:\d{{4}}年{_MONTH}月{_DAY}日|\d{{4}}年{_MONTH}月|{_MONTH}月{_DAY}日"
    rf"|\d{{4}}[-/.]{_MONTH}[-/.]{_DAY}|\d{{4}}[-/.]{_MONTH}|{_MONTH}[-/.]{_DAY})"
)
_TIME_POINT = rf"(?:{_DATE} ?)?{_HM}"
_DATE_POINT = rf"{_DATE}(?: ?{_HM})?"
_VALID_TIME = re.compile(rf"^{_TIME_POINT}(?: ?~ ?{_TIME_POINT})?$")
_VALID_DATE = re.compile(rf"^{_DATE_POINT}(?: ?~ ?{_DATE_POINT})?$")


class Unfittable(ValueError):
    """No valid value of the keyword's type can be made from this value without inventing
    one; `reason` (Chinese) says why, for the outbox's last_error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def keyword_type(key: str) -> str:
    """"thing12" → "thing", "character_string1" → "character_string"."""
    match = _KEY_TYPE.match(key)
    return match.group(1) if match else key


def fit_value(
    kind: str,
    value,
    *,
    now: datetime | None = None,
    choices: Sequence[str] | None = None,
) -> str:
    """A value as a keyword of type `kind` accepts it; never an empty or invalid one.

    - thing ≤ 20 characters of any kind but control characters and emoji (cut with …);
    - number: the first number in the value (digits, one decimal point), ≤ 32 characters;
    - letter ≤ 32 letters; symbol ≤ 5 symbols; character_string ≤ 32 letters, digits and
      ASCII symbols; phrase ≤ 5 Chinese characters (others dropped, then cut);
    - name ≤ 10 characters when it has Chinese in it (Chinese, letters, ·), else ≤ 20 letters
      and symbols;
    - phone_number: the first run of digits and symbols, ≤ 17; car_number: ≤ 8 letters and
      digits, the first and the last may be Chinese (separators dropped, upper-cased); a value
      that is no phone or plate number shows the placeholder (a cut one would be wrong);
    - time "2026年11月22日 10:05" and date "2026年11月22日", in Asia/Shanghai, from a datetime;
      a string is kept when WeChat accepts it (15:01, 2019年10月1日 15:01, 2019-10-01, a range
      "a ~ b"); an empty or invalid one becomes `now` (the notice's time; default: the
      current time), logged;
    - amount: one currency symbol (¥ when none), ≤ 10 digits, decimals, may end with 元;
    - enum: the value must be one of `choices` (the template's configured values).

    A value the notice lacks becomes the type's placeholder (PLACEHOLDERS). Raises Unfittable
    for an amount or enum no valid value can be made of.
    """
    if kind in ("time", "date"):
        return _fit_time(kind, value, now)
    if kind == "amount":
        return _fit_amount(value)
    if kind == "enum":
        return _fit_enum(value, choices)
    text = " ".join(_printable(value).split())
    if kind == "number":
        match = _NUMBER.search(text.replace(",", ""))
        text = match.group(0)[: LIMITS["number"]].rstrip(".") if match else ""
    elif kind == "letter":
        text = _NOT_LETTER.sub("", text)[: LIMITS["letter"]]
    elif kind == "symbol":
        text = "".join(ch for ch in text if _is_symbol(ch))[: LIMITS["symbol"]]
    elif kind == "character_string":
        text = _NOT_CHARACTER_STRING.sub("", text)[: LIMITS["character_string"]]
    elif kind == "phrase":
        text = _NOT_CHINESE.sub("", text)[: LIMITS["phrase"]]
    elif kind == "name":
        text = _fit_name(text)
    elif kind == "phone_number":
        text = _fit_checked(kind, text, _fit_phone)
    elif kind == "car_number":
        text = _fit_checked(kind, text, _fit_car_number)
    else:  # thing, and a type WeChat may add: the loosest rule
        if len(text) > LIMITS["thing"]:
            text = text[: LIMITS["thing"] - 1] + ELLIPSIS
    return text or PLACEHOLDERS.get(kind, PLACEHOLDERS["thing"])


def _printable(value) -> str:
    """The value as text without control or format characters and without characters beyond
    the Basic Multilingual Plane (emoji), which WeChat's keywords do not take."""
    text = str(value if value is not None else "")
    # The common case, kept as is: isprintable() is False for every Cc, Cf, Cs and Co character
    # (and for tabs and line breaks), and nothing is beyond the BMP.
    if text.isprintable() and (not text or max(text) <= "\uffff"):
        return text
    return "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ord(ch) <= 0xFFFF and (ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    )


def _is_symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _fit_name(text: str) -> str:
    if _HAS_CHINESE.search(text):
        return _NOT_CHINESE_NAME.sub("", text)[: LIMITS["name"]]
    return " ".join(_NOT_LATIN_NAME.sub("", text).split())[: LIMITS["latin_name"]].strip()


def _fit_phone(text: str) -> str | None:
    match = _PHONE.search("".join(text.split()))
    if match is None or len(match.group(0)) > LIMITS["phone_number"]:
        return None
    return match.group(0)


def _fit_car_number(text: str) -> str | None:
    plate = _CAR_SEPARATORS.sub("", text).upper()
    return plate if _CAR_NUMBER.match(plate) else None


def _fit_checked(kind: str, text: str, fit) -> str:
    """A value that must be exact: the fitted one, or the placeholder (logged) when the value
    is not one of its type."""
    if not text:
        return ""
    fitted = fit(text)
    if fitted is None:
        log.warning("%r is not a valid %s keyword value; sent as %r", text, kind, PLACEHOLDERS[kind])
        return ""
    return fitted


def _fit_time(kind: str, value, now: datetime | None) -> str:
    pattern = DATE_FORMAT if kind == "date" else TIME_FORMAT
    if isinstance(value, datetime):
        return pattern.format(_local(value))
    if isinstance(value, date) and kind == "date":
        return pattern.format(value)
    text = " ".join(_printable(value).replace("～", "~").split())
    if text and (_VALID_DATE if kind == "date" else _VALID_TIME).match(text):
        return text
    log.warning("%r is not a valid %s keyword value; sent as the notice's time", value, kind)
    return pattern.format(_local(now or utcnow()))


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:  # the app keeps UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(SHANGHAI)


def _fit_amount(value) -> str:
    if value is None or value == "":
        raise Unfittable("缺少金额")
    if isinstance(value, bool):
        raise Unfittable("金额无效")
    if isinstance(value, (int, float, Decimal)):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise Unfittable("金额无效") from None
        if not number.is_finite() or number < 0:
            raise Unfittable("金额无效")
        text = f"{_CURRENCY}{number:.2f}"
    else:
        text = "".join(_printable(value).split()).replace(",", "")
    match = _AMOUNT.match(text)
    if match is None:
        raise Unfittable(f"“{str(value)[:20]}”不是有效的金额")
    symbol, digits, decimals, yuan = match.groups()
    return f"{symbol or _CURRENCY}{digits}{decimals or ''}{yuan or ''}"


def _fit_enum(value, choices: Sequence[str] | None) -> str:
    if not choices:
        raise Unfittable("未配置该枚举字段的可选值（WECHAT_TEMPLATES 的 choices）")
    text = " ".join(_printable(value).split())
    if text not in choices:
        raise Unfittable(f"“{text[:20]}”不在配置的枚举值中")
    return text


# --- templates -------------------------------------------------------------------------------


class Template(NamedTuple):
    id: str
    fields: dict[str, str]  # keyword → the notice's value name
    choices: dict[str, list[str]]  # enum keyword → its allowed values


@dataclass(frozen=True)
class Rendered:
    """A notice fitted to its template. `unsendable` says why WeChat would refuse it whatever
    we did (the drainer skips it with that reason); its keyword is left out of `data`."""

    template_id: str
    data: dict
    unsendable: str | None = None


def template_for(kind: str) -> Template:
    """The template of a kind of notice, from WECHAT_TEMPLATES.

    A kind missing from the config gets a placeholder id "demo_<kind>": the demo logs such
    messages; with WeChat configured they fail with WeChat's own error, visible in the outbox.
    """
    configured = (current_app.config.get("WECHAT_TEMPLATES") or {}).get(kind)
    if isinstance(configured, dict):
        choices = configured.get("choices")
        return Template(
            str(configured.get("id") or f"demo_{kind}"),
            dict(configured.get("fields") or DEFAULT_FIELDS),
            {
                str(key): [str(v) for v in values]
                for key, values in (choices.items() if isinstance(choices, dict) else ())
                if isinstance(values, list)
            },
        )
    return Template(str(configured or f"demo_{kind}"), dict(DEFAULT_FIELDS), {})


def render(kind: str, values: dict) -> Rendered:
    """A notice's template id and WeChat `data`: each keyword filled and fitted.

    A time keyword without a valid value shows `values["time"]` (the notice's time)."""
    template = template_for(kind)
    now = values.get("time") if isinstance(values.get("time"), datetime) else None
    data, problems = {}, []
    for key, name in template.fields.items():
        try:
            value = fit_value(keyword_type(key), values.get(name), now=now, choices=template.choices.get(key))
        except Unfittable as error:
            problems.append(f"{key}：{error.reason}")
            continue
        data[key] = {"value": value}
    unsendable = None
    if problems:
        unsendable = "模板内容不符合微信要求，未发送（" + "；".join(problems) + "）"
        log.warning("notice %s cannot be sent with template %s: %s", kind, template.id, unsendable)
    return Rendered(template.id, data, unsendable)


def long_term_template_ids() -> frozenset[str]:
    """The long-term templates (长期订阅), from WECHAT_LONG_TERM_TEMPLATES."""
    configured = current_app.config.get("WECHAT_LONG_TERM_TEMPLATES") or ()
    if isinstance(configured, str):
        configured = configured.replace(",", " ").split()
    return frozenset(str(template_id) for template_id in configured)


def is_long_term(template_id: str) -> bool:
    """One consent to a long-term template allows any number of its messages."""
    return template_id in long_term_template_ids()


def page_for(ticket_id: str | None) -> str | None:
    """The mini-program page a message opens (the ticket's detail page)."""
    if not ticket_id:
        return None
    pattern = current_app.config.get("WECHAT_MESSAGE_PAGE") or DEFAULT_PAGE
    return pattern.format(ticket_id=ticket_id)
