"""Schemas of tickets: what residents send, what they and staff get back."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from miniprogram_api.fields import LocalDateTime, WholeNumber, row_id
from miniprogram_api.schemas.places import BuildingSchema
from webapp.tickets.state_machine import STAFF_ACTIONS
from webapp.tickets.queue import Q_MAX, REPORTERS
from webapp.tickets.submission import DESCRIPTION_MAX, DESCRIPTION_MIN, MAX_PHOTOS

PHONE = validate.Regexp(r"^1\d{10}$", error="请填写11位手机号码")


class TicketCreateSchema(Schema):
    """A submission. Server-owned fields (status, assignee, building_id, reporter...) are
    ignored if sent."""

    class Meta:
        unknown = EXCLUDE

    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(
        required=True, validate=validate.OneOf(["report", "wish"], error="类型只能是随手拍或心语心愿")
    )
    category = fields.String(required=True, validate=validate.Length(min=1, max=40))
    description = fields.String(
        required=True,
        validate=validate.Length(
            min=DESCRIPTION_MIN, max=DESCRIPTION_MAX,
            error=f"问题描述需要{DESCRIPTION_MIN}到{DESCRIPTION_MAX}个字",
        ),
    )
    unit = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    photo_ids = fields.List(
        fields.String(validate=validate.Length(max=40)),
        load_default=list,
        validate=validate.Length(max=MAX_PHOTOS, error=f"最多上传{MAX_PHOTOS}张照片"),
    )
    anonymous = fields.Boolean(load_default=False)
    contact_phone = fields.String(load_default=None, allow_none=True, validate=PHONE)


class AssigneeSchema(Schema):
    role = fields.String()
    name = fields.String()


class TicketSchema(Schema):
    id = fields.String()
    number = fields.String()
    kind = fields.String()
    category = fields.String(metadata={"description": "类别编码"})
    category_name = fields.String()
    status = fields.String()
    status_label = fields.String()
    description = fields.String()
    unit = fields.String(allow_none=True)
    building = fields.Nested(BuildingSchema)
    assignee = fields.Nested(AssigneeSchema, allow_none=True)
    level = fields.String(metadata={"description": "督办层级：grid/community/street/department"})
    due_at = LocalDateTime(allow_none=True, metadata={"description": "办结时限"})
    accept_due_at = LocalDateTime(allow_none=True)
    is_overdue = fields.Boolean()
    created_at = LocalDateTime()
    me_too_count = fields.Integer()
    rating = fields.Integer(allow_none=True)
    anonymous = fields.Boolean()
    version = fields.Integer(metadata={"description": "乐观锁版本，可在操作时回传"})


class TimelineEntrySchema(Schema):
    at = LocalDateTime()
    action = fields.String()
    action_label = fields.String()
    actor_role = fields.String()
    note = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    photo_ids = fields.List(fields.String())


class TicketDetailSchema(TicketSchema):
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    photo_ids = fields.List(fields.String())
    rating_comment = fields.String(allow_none=True)
    reopen_count = fields.Integer()
    is_reporter = fields.Boolean()
    # Staff only: how to call the reporter back, and possible duplicates.
    contact_phone = fields.String(allow_none=True)
    duplicate_of = fields.String(allow_none=True)
    needs_review = fields.Boolean()


class TicketPageSchema(Schema):
    items = fields.List(fields.Nested(TicketSchema))
    next_cursor = fields.String(allow_none=True)


class MeTooSchema(Schema):
    me_too_count = fields.Integer()


class FeedbackSchema(Schema):
    resolved = fields.Boolean(required=True)
    rating = WholeNumber(
        required=True, validate=validate.Range(min=1, max=5, error="请给出1到5分的评价")
    )
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=300))


class ActionSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(sorted(a.value for a in STAFF_ACTIONS), error="未知的操作"),
    )
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    photo_ids = fields.List(
        fields.String(validate=validate.Length(max=40)),
        load_default=list,
        validate=validate.Length(max=MAX_PHOTOS),
    )
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    target = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    version = WholeNumber(load_default=None, allow_none=True)


class WorkQueryArgs(Schema):
    status = fields.String(
        load_default=None,
        validate=validate.OneOf(
            ["open", "pending", "dispatched", "accepted", "resolved", "closed", "rejected", "merged"],
            error="未知的状态",
        ),
        metadata={"description": "默认 open：待派单、已派单、处理中、待评价"},
    )
    overdue = fields.Boolean(load_default=None)
    category = fields.String(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(["report", "wish"]))
    reporter = fields.String(
        load_default=None,
        validate=validate.OneOf(list(REPORTERS), error="反映人只能是 resident（居民）或 rider（骑手）"),
        metadata={"description": "反映人：resident 居民、rider 骑手（兼职网格员）"},
    )
    q = fields.String(
        load_default=None,
        validate=validate.Length(max=Q_MAX, error=f"搜索内容最多{Q_MAX}个字"),
        metadata={"description": "搜索：工单编号的一部分（不区分大小写），或问题描述中的文字"},
    )
    grid_id = row_id(load_default=None, metadata={"description": "只看该网格（仍限于调用者的范围）"})
    mine = fields.Boolean(load_default=False, metadata={"description": "true：只看分派给我的工单"})
