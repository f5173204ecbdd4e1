"""Every keyword type fitted to WeChat's rules (subscribeMessage.send, "订阅消息参数值内容限制说明").

`wechat_accepts` below restates those rules independently of templates.py: each fitted value
of every type, from ordinary, too long, wrong-character and empty input, must pass it, so the
drainer never sends a value WeChat refuses with 47003.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import responses

from tests.factories import make_person
from tests.notifications.helpers import sends
from webapp.extensions import db
from webapp.notifications import outbox
from webapp.notifications.models import OutboxMessage, OutboxState
from webapp.notifications.subscriptions import add_consent
from webapp.notifications.templates import NUMBER_FITS_SQL, TYPES, Unfittable, fit_value, render
from webapp.wechat import SUBSCRIBE_SEND_URL

NOW = datetime(2026, 11, 22, 2, 5, tzinfo=timezone.utc)  # 2026年11月22日 10:05 in Shanghai
NOW_SHOWN = "2026年11月22日 10:05"
CHOICES = ["待处理", "处理中", "已办结"]

CJK = "\u3400-\u4dbf\u4e00-\u9fff"
HM = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
DAY = (
    r"(?:\d{4}年\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日"
    r"|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2})"
)
TIME_POINT = rf"(?:{DAY} ?)?{HM}"
DATE_POINT = rf"{DAY}(?: ?{HM})?"


def _symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def _no_control(value: str) -> bool:
    return all(unicodedata.category(ch) not in ("Cc", "Cf") and ord(ch) <= 0xFFFF for ch in value)


def wechat_accepts(kind: str, value: str) -> bool:
    """WeChat's rule for a keyword of type `kind`, as its documentation states it."""
    if not isinstance(value, str) or not value or not _no_control(value):
        return False
    if kind == "thing":  # ≤ 20 characters: Chinese, digits, letters or symbols
        return len(value) <= 20
    if kind == "number":  # ≤ 32 digits, may have decimals
        return len(value) <= 32 and re.fullmatch(r"\d+(?:\.\d+)?", value) is not None
    if kind == "letter":  # ≤ 32 letters only
        return re.fullmatch(r"[A-Za-z]{1,32}", value) is not None
    if kind == "symbol":  # ≤ 5 symbols only
        return len(value) <= 5 and all(_symbol(ch) for ch in value)
    if kind == "character_string":  # ≤ 32 digits, letters or symbols
        return len(value) <= 32 and all(ch.isascii() and (ch.isalnum() or _symbol(ch)) for ch in value)
    if kind == "time":  # 24-hour time (may have a date), or a range joined by ~
        return re.fullmatch(rf"{TIME_POINT}(?: ?~ ?{TIME_POINT})?", value) is not None
    if kind == "date":  # a date (may have a time), or a range joined by ~
        return re.fullmatch(rf"{DATE_POINT}(?: ?~ ?{DATE_POINT})?", value) is not None
    if kind == "amount":  # 1 currency symbol + ≤ 10 digits, may have decimals, may end with 元
        return re.fullmatch(r"[¥￥$€£]\d{1,10}(?:\.\d+)?元?", value) is not None
    if kind == "phone_number":  # ≤ 17 digits and symbols
        return len(value) <= 17 and all(ch.isdigit() or _symbol(ch) for ch in value)
    if kind == "car_number":  # ≤ 8; first and last may be Chinese, the others letters/digits
        return re.fullmatch(rf"[{CJK}A-Z0-9](?:[A-Z0-9]{{0,6}}[{CJK}A-Z0-9])?", value) is not None
    if kind == "name":  # ≤ 10 Chinese (mixed with letters counts as Chinese) or ≤ 20 letters/symbols
        if re.search(rf"[{CJK}]", value):
            return len(value) <= 10 and re.fullmatch(rf"[{CJK}A-Za-z·]+", value) is not None
        return len(value) <= 20 and all(ch.isascii() and (ch.isalpha() or ch == " " or _symbol(ch)) for ch in value)
    if kind == "phrase":  # ≤ 5 Chinese characters only
        return re.fullmatch(rf"[{CJK}]{{1,5}}", value) is not None
    if kind == "enum":  # one of the template's configured values
        return value in CHOICES
    raise AssertionError(kind)


NASTY = [
    None,
    "",
    "   ",
    "\n\t",
    "第一行\n第二行\x00\u200b",
    "😀🚧",
    "三单元楼道的声控灯已经坏了整整一个星期晚上很黑老人上下楼不方便" * 2,
    "A" * 50,
    "9" * 50,
    "工单JY-20261122-0042号，金额¥12.50元，电话+86 0766-66888866",
    "!@#$%^&*()",
    "张三 Zhang San",
    "粤A·8Z888挂",
    "2026年11月22日 10:05",
    "明天下午三点",
    "25:61",
    12,
    3.5,
    -7,
    Decimal("12345678901.5"),
    True,
    NOW,
    date(2026, 1, 5),
    "处理中",
]


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("value", NASTY, ids=repr)
def test_every_fitted_value_of_every_type_is_one_wechat_accepts(app_ctx, kind, value):
    try:
        fitted = fit_value(kind, value, now=NOW, choices=CHOICES)
    except Unfittable as error:
        # Only types whose value cannot be invented may refuse, and then with a reason.
        assert kind in ("amount", "enum")
        assert error.reason
        return
    assert wechat_accepts(kind, fitted), (kind, value, fitted)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        # thing: ≤ 20, cut with an ellipsis; control characters and emoji dropped
        ("thing", "楼道灯坏了", "楼道灯坏了"),
        ("thing", "三单元楼道的声控灯已经坏了整整一个星期晚上很黑", "三单元楼道的声控灯已经坏了整整一个星期…"),
        ("thing", "灯坏了😀\x00\u200b", "灯坏了"),
        ("thing", "", "无"),
        # number: the first number, digits and one decimal point, ≤ 32
        ("number", "共 12 件", "12"),
        ("number", "3,500.50 元", "3500.50"),
        ("number", "9" * 40, "9" * 32),
        ("number", "无", "0"),
        # letter: letters only, ≤ 32
        ("letter", "abc-123 DEF", "abcDEF"),
        ("letter", "x" * 40, "x" * 32),
        ("letter", "中文", "NA"),
        # symbol: symbols only, ≤ 5
        ("symbol", "a+b-c*d/e%f", "+-*/%"),
        ("symbol", "中文ab", "-"),
        # character_string: ASCII letters, digits, symbols, ≤ 32
        ("character_string", "工单JY-0042号", "JY-0042"),
        ("character_string", "A" * 40, "A" * 32),
        ("character_string", "问题", "-"),
        # phrase: Chinese only, ≤ 5
        ("phrase", "已办结 ok", "已办结"),
        ("phrase", "超过五个字的状态", "超过五个字"),
        ("phrase", "ok", "无"),
        # name: ≤ 10 when Chinese (letters and · allowed with it), ≤ 20 letters and symbols
        ("name", "张三", "张三"),
        ("name", "阿卜杜·热合曼买买提江艾力", "阿卜杜·热合曼买买提"),
        ("name", "Li Lei 2", "Li Lei"),
        ("name", "Alexander Montgomery-Smithson", "Alexander Montgomery"),
        ("name", "123", "无"),
        # phone_number: the first run of digits and symbols, ≤ 17; else "-"
        ("phone_number", "+86 0766-66888866", "+860766-66888866"),
        ("phone_number", "0571-88888888转123", "0571-88888888"),
        ("phone_number", "1" * 18, "-"),
        ("phone_number", "不详", "-"),
        # car_number: ≤ 8, first and last may be Chinese; separators dropped, upper-cased
        ("car_number", "粤A·8Z888挂", "粤A8Z888挂"),
        ("car_number", "京a 12345", "京A12345"),
        ("car_number", "粤AB1234567", "无"),
        ("car_number", "A-中-1", "无"),
        # time and date
        ("time", NOW, NOW_SHOWN),
        ("time", "15:01", "15:01"),
        ("time", "2019年10月1日 15:01", "2019年10月1日 15:01"),
        ("time", "2019-10-01 15:01～2019-10-01 17:00", "2019-10-01 15:01~2019-10-01 17:00"),
        ("date", datetime(2026, 11, 22, 18, 5, tzinfo=timezone.utc), "2026年11月23日"),
        ("date", date(2026, 1, 5), "2026年01月05日"),
        ("date", "2019年10月1日", "2019年10月1日"),
        ("date", "2019-10", "2019-10"),
        # amount: a currency symbol (¥ when none), ≤ 10 digits, decimals, may end with 元
        ("amount", 12.5, "¥12.50"),
        ("amount", Decimal("3"), "¥3.00"),
        ("amount", "¥214.00", "¥214.00"),
        ("amount", "30元", "¥30元"),
        ("amount", "$1,234.5", "$1234.5"),
        # enum: one of the configured values
        ("enum", "处理中", "处理中"),
        ("enum", " 已办结 ", "已办结"),
    ],
)
def test_fit_value_per_type(app_ctx, kind, value, expected):
    assert fit_value(kind, value, now=NOW, choices=CHOICES) == expected


@pytest.mark.parametrize("value", ["", None, "   ", "明天", "25:00", "2026年13月1日 10:00", date(2026, 1, 5)])
def test_a_time_without_a_valid_value_shows_the_notice_time_never_wu(app_ctx, value, caplog):
    """"无" is no time: WeChat refuses it (47003). The notice's own time is shown, and logged."""
    with caplog.at_level(logging.WARNING, logger="gridreport.outbox"):
        assert fit_value("time", value, now=NOW) == NOW_SHOWN
        assert fit_value("date", value if not isinstance(value, date) else "", now=NOW) == "2026年11月22日"
    assert "not a valid time keyword value" in caplog.text


def test_a_time_without_now_shows_the_current_time(app_ctx):
    fitted = fit_value("time", "")
    assert wechat_accepts("time", fitted)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "缺少金额"),
        ("", "缺少金额"),
        ("面议", "不是有效的金额"),
        ("¥12345678901", "不是有效的金额"),  # 11 digits
        (12345678901, "不是有效的金额"),
        (-3, "金额无效"),
        (float("nan"), "金额无效"),
        (True, "金额无效"),
    ],
)
def test_an_amount_that_cannot_be_made_valid_is_refused_with_a_reason(app_ctx, value, reason):
    with pytest.raises(Unfittable) as refused:
        fit_value("amount", value)
    assert reason in refused.value.reason


@pytest.mark.parametrize(("value", "choices"), [("加急", CHOICES), ("", CHOICES), ("处理中", None), ("处理中", [])])
def test_an_enum_value_outside_the_configured_ones_is_refused(app_ctx, value, choices):
    with pytest.raises(Unfittable):
        fit_value("enum", value, choices=choices)


# --- render and the outbox -------------------------------------------------------------------


def test_render_fills_a_time_keyword_without_a_value_with_the_notice_time(app_ctx, monkeypatch):
    monkeypatch.setitem(
        app_ctx.config, "WECHAT_TEMPLATES",
        {"deadline_warning": {"id": "TPL-DL", "fields": {"thing1": "note", "time2": "deadline", "time3": "time"}}},
    )
    rendered = render("deadline_warning", {"note": "即将超期", "time": NOW})
    assert rendered.unsendable is None
    assert rendered.data == {
        "thing1": {"value": "即将超期"},
        "time2": {"value": NOW_SHOWN},
        "time3": {"value": NOW_SHOWN},
    }


def test_render_of_every_type_with_nothing_to_show_is_valid(app_ctx, monkeypatch):
    fields = {f"{kind}{n}": "missing" for n, kind in enumerate(TYPES, start=1) if kind not in ("amount", "enum")}
    monkeypatch.setitem(app_ctx.config, "WECHAT_TEMPLATES", {"ticket_closed": {"id": "TPL-ALL", "fields": fields}})
    rendered = render("ticket_closed", {"time": NOW})
    assert rendered.unsendable is None
    for key, item in rendered.data.items():
        kind = re.sub(r"\d+$", "", key)
        assert wechat_accepts(kind, item["value"]), (key, item)


def _enum_layout(monkeypatch, app):
    monkeypatch.setitem(
        app.config, "WECHAT_TEMPLATES",
        {"ticket_resolved": {
            "id": "TPL-ENUM",
            "fields": {"character_string1": "number", "enum2": "status", "amount3": "fee"},
            "choices": {"enum2": CHOICES},
        }},
    )


def test_render_keeps_an_enum_value_that_is_configured(app_ctx, monkeypatch):
    _enum_layout(monkeypatch, app_ctx)
    rendered = render("ticket_resolved", {"number": "JY-1", "status": "已办结", "fee": 0, "time": NOW})
    assert rendered.unsendable is None
    assert rendered.data["enum2"] == {"value": "已办结"}
    assert rendered.data["amount3"] == {"value": "¥0.00"}


def test_a_notice_wechat_would_refuse_is_written_and_skipped_with_its_reason(app_ctx, monkeypatch, wechat):
    """An enum value outside the template's values (and a missing amount): no request is made,
    the message is skipped with the reason, and the consent is kept."""
    _enum_layout(monkeypatch, app_ctx)
    person = make_person("居民甲", openid="o-enum")
    db.session.commit()
    add_consent(person.id, "TPL-ENUM")
    message = outbox.enqueue(person.id, "ticket_resolved", data={"number": "JY-1", "status": "待评价"}, now=NOW)
    db.session.commit()
    assert "enum2" in message.payload["unsendable"] and "amount3" in message.payload["unsendable"]
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    assert outbox.drain(now=NOW)["skipped"] == 1
    db.session.expire_all()
    done = db.session.get(OutboxMessage, message.id)
    assert done.state is OutboxState.SKIPPED
    assert done.last_error.startswith("模板内容不符合微信要求")
    assert "不在配置的枚举值中" in done.last_error and "缺少金额" in done.last_error
    assert sends(wechat) == []
    # A person who requeues it gets the same answer, still without a request.
    outbox.requeue(message.id, now=NOW)
    db.session.commit()
    assert outbox.drain(now=NOW)["skipped"] == 1
    assert sends(wechat) == []


def test_the_demo_also_skips_an_unsendable_notice(app_ctx, monkeypatch):
    _enum_layout(monkeypatch, app_ctx)
    person = make_person("居民乙")
    db.session.commit()
    message = outbox.enqueue(person.id, "ticket_resolved", data={"status": "已办结"}, now=NOW)
    db.session.commit()
    assert outbox.drain(now=NOW)["skipped"] == 1
    db.session.expire_all()
    assert "amount3" in db.session.get(OutboxMessage, message.id).last_error


def test_the_sql_pattern_of_a_number_a_character_string_keeps(app_ctx):
    """NUMBER_FITS_SQL (a PostgreSQL pattern, the same in Python's re here) matches exactly the
    street prefixes whose ticket numbers a character_string keeps as they are."""
    for code in [*range(0x20, 0x7F), 0xA0, 0x3000, 0x4E00, 0x5DE8, 0xFF21, 0x1F600]:
        prefix = "J" + chr(code)
        number = f"{prefix}-20261130-0001"
        kept = fit_value("character_string", number) == number
        assert kept == (re.fullmatch(NUMBER_FITS_SQL, prefix) is not None), repr(prefix)
