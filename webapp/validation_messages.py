"""Chinese texts for marshmallow's and webargs' validation errors: what residents read.

marshmallow's documented way to change its default messages is the class-level
`default_error_messages` of a field (and `error_messages` of a schema); its validators read
their texts from class attributes too. Those are set here, once, when `webapp` is imported:
before any schema of the project is defined, because validators such as Range and OneOf format
their message when they are built. A message a schema gives itself (`error="..."`) wins.

`translate_errors` is the last guard, used by the error handler on every field error it sends:
a message with no Chinese in it (a library's text this table does not know yet) is replaced by
a generic Chinese one and logged, so a person never reads English. tests/api/test_validation_
messages.py walks every request schema of the OpenAPI document and finds no such message.
"""
from __future__ import annotations

import logging
import re

from marshmallow import Schema, fields, validate

log = logging.getLogger(__name__)

GENERIC = "内容不符合要求"
INVALID_JSON = "请求内容不是有效的 JSON"

FIELD_MESSAGES: dict[type, dict[str, str]] = {
    fields.Field: {
        "required": "此项为必填项",
        "null": "此项不能为空",
        "validator_failed": GENERIC,
    },
    fields.Nested: {"type": "格式有误，应为对象"},
    fields.List: {"invalid": "格式有误，应为列表"},
    fields.Tuple: {"invalid": "格式有误，应为列表"},
    fields.String: {"invalid": "格式有误，应为文字", "invalid_utf8": "不是有效的 UTF-8 文字"},
    fields.UUID: {"invalid_uuid": "不是有效的编号"},
    fields.Number: {"invalid": "格式有误，应为数字", "too_large": "数字过大"},
    fields.Integer: {"invalid": "格式有误，应为整数"},
    fields.Float: {"special": "不能是非数字或无穷大"},
    fields.Decimal: {"special": "不能是非数字或无穷大"},
    fields.Boolean: {"invalid": "格式有误，应为 true 或 false"},
    fields.DateTime: {
        "invalid": "不是有效的日期时间",
        "invalid_awareness": "日期时间的时区有误",
        "format": "日期时间格式有误",
    },
    fields.Date: {"invalid": "不是有效的日期（格式：YYYY-MM-DD）", "format": "日期格式有误"},
    fields.Time: {"invalid": "不是有效的时间", "format": "时间格式有误"},
    fields.TimeDelta: {"invalid": "不是有效的时长", "format": "时长格式有误"},
    fields.Mapping: {"invalid": "格式有误，应为对象"},
    fields.Url: {"invalid": "不是有效的网址"},
    fields.Email: {"invalid": "不是有效的电子邮箱"},
    fields.IP: {"invalid_ip": "不是有效的 IP 地址"},
    fields.IPv4: {"invalid_ip": "不是有效的 IPv4 地址"},
    fields.IPv6: {"invalid_ip": "不是有效的 IPv6 地址"},
    fields.Enum: {"unknown": "必须是以下之一：{choices}"},
}

SCHEMA_MESSAGES = {"type": "格式有误，应为对象", "unknown": "不支持的字段"}


def _install() -> None:
    for field_class, messages in FIELD_MESSAGES.items():
        # Each class keeps its own dict: merged along the MRO when a field is built.
        field_class.default_error_messages = {**field_class.default_error_messages, **messages}
    Schema.error_messages = {**Schema.error_messages, **SCHEMA_MESSAGES}

    validate.Range.message_gte = "大于或等于"
    validate.Range.message_gt = "大于"
    validate.Range.message_lte = "小于或等于"
    validate.Range.message_lt = "小于"
    validate.Range.message_min = "必须{min_op} {{min}}"
    validate.Range.message_max = "必须{max_op} {{max}}"
    validate.Range.message_all = "必须{min_op} {{min}} 且{max_op} {{max}}"
    validate.Length.message_min = "长度不能少于 {min}"
    validate.Length.message_max = "长度不能超过 {max}"
    validate.Length.message_all = "长度必须在 {min} 到 {max} 之间"
    validate.Length.message_equal = "长度必须为 {equal}"
    validate.Equal.default_message = "必须等于 {other}"
    validate.Regexp.default_message = "格式有误"
    validate.Predicate.default_message = GENERIC
    validate.NoneOf.default_message = "不能是以下任一值：{values}"
    validate.OneOf.default_message = "必须是以下之一：{choices}"
    validate.ContainsOnly.default_message = "只能从以下值中选择：{choices}"
    validate.ContainsNoneOf.default_message = "不能包含以下值：{values}"
    validate.URL.default_message = "不是有效的网址"
    validate.Email.default_message = "不是有效的电子邮箱"


_install()

_CHINESE = re.compile("[\u4e00-\u9fff]")
# What webargs says of a body that is not JSON at all (no hook to change it in the parser).
_KNOWN = {"Invalid JSON body.": INVALID_JSON}


def translate_errors(errors):
    """Field errors as sent to people: every message Chinese (see the module docstring)."""
    if isinstance(errors, dict):
        return {key: translate_errors(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [translate_errors(item) for item in errors]
    if isinstance(errors, str):
        if _CHINESE.search(errors):
            return errors
        if errors in _KNOWN:
            return _KNOWN[errors]
        log.warning("validation message without a Chinese text: %r", errors)
        return GENERIC
    return errors
