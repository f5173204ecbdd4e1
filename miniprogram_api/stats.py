"""The figures leaders report (GET /api/v1/work/stats): rates, counts, trends and hotspots of
the caller's scope over a period of Beijing days. Definitions: webapp/figures/definitions.py."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from miniprogram_api.fields import MAX_ROW_ID, LocalDateTime
from miniprogram_api.security import current_actor, login_required
from webapp.columns import utcnow
from webapp.figures import compute
from webapp.figures.period import DATE_FORMAT_MESSAGE, PeriodError, period_from
from webapp.figures.scope import resolve_scope

blp = Blueprint("stats", __name__, url_prefix="/api/v1/work", description="数据统计（响应率、按时办结率、满意率）")

DAY = {"invalid": DATE_FORMAT_MESSAGE, "format": DATE_FORMAT_MESSAGE}
PLACE_ID = validate.Range(min=1, max=MAX_ROW_ID, error="范围 id 应为正整数，且不超过2147483647")


class StatsArgs(Schema):
    start = fields.Date(
        data_key="from", format="%Y-%m-%d", load_default=None, error_messages=DAY,
        metadata={"description": "开始日期（北京时间，含当天），YYYY-MM-DD；默认本月1日"},
    )
    end = fields.Date(
        data_key="to", format="%Y-%m-%d", load_default=None, error_messages=DAY,
        metadata={"description": "结束日期（北京时间，不含当天），YYYY-MM-DD；默认明天（即统计到今天）。最长366天"},
    )
    kind = fields.String(
        load_default=None,
        validate=validate.OneOf(["report", "wish"], error="类型只能是随手拍（report）或心语心愿（wish）"),
        metadata={"description": "report 只统计随手拍，wish 只统计心语心愿；不填为合计"},
    )
    street_id = fields.Integer(load_default=None, validate=PLACE_ID, metadata={"description": "街道 id"})
    community_id = fields.Integer(load_default=None, validate=PLACE_ID, metadata={"description": "社区 id"})
    grid_id = fields.Integer(
        load_default=None, validate=PLACE_ID,
        metadata={"description": "网格 id。街道、社区、网格至多选一个，须在本人管辖范围内（否则 404）；都不填为本人的管辖范围"},
    )

    @validates_schema
    def _one_place(self, data, **kwargs):
        if sum(data.get(k) is not None for k in ("street_id", "community_id", "grid_id")) > 1:
            raise ValidationError("街道、社区、网格只能选择一个", "grid_id")

    @post_load
    def _period(self, data, **kwargs):
        try:
            data["period"] = period_from(data.pop("start"), data.pop("end"), utcnow())
        except PeriodError as error:
            raise ValidationError(error.message, {"from": "from", "to": "to"}[error.field]) from None
        return data


class PlaceSchema(Schema):
    level = fields.String(metadata={"description": "all（全部）、street、community、grid，或 mine（本人的管辖范围）"})
    id = fields.Integer(allow_none=True)
    name = fields.String()


class PeriodSchema(Schema):
    start = fields.Date(data_key="from", attribute="from", metadata={"description": "开始日期（含）"})
    end = fields.Date(data_key="to", attribute="to", metadata={"description": "结束日期（不含）"})


def _rate(text):
    return fields.Float(allow_none=True, metadata={"description": text + "；0到1，分母为0时为 null"})


class FiguresRowSchema(Schema):
    tickets_in = fields.Integer(metadata={"description": "受理量：统计期内新建的工单数"})
    accepted_on_time = fields.Integer(metadata={"description": "在接单时限内接单的工单数"})
    due_for_acceptance = fields.Integer(metadata={"description": "应接单的工单数（已接单，或接单时限已过；不含驳回、合并）"})
    response_rate = _rate("响应率 = accepted_on_time ÷ due_for_acceptance")
    resolved_on_time = fields.Integer(metadata={"description": "在办理时限内办结反馈、且之后未被重新办理的工单数"})
    due_for_resolution = fields.Integer(metadata={"description": "应办结的工单数（已办结反馈，或办理时限已过；不含驳回、合并）"})
    on_time_closure_rate = _rate("按时办结率 = resolved_on_time ÷ due_for_resolution")
    rated = fields.Integer(metadata={"description": "已评价的工单数（自动办结的不算）"})
    satisfied = fields.Integer(metadata={"description": "评价为4分或5分的工单数"})
    satisfaction_rate = _rate("满意率 = satisfied ÷ rated")
    overdue_now = fields.Integer(metadata={"description": "当前超期：仍未接单且已过接单时限，或已接单未办结且已过办理时限"})
    closed = fields.Integer(metadata={"description": "已办结的工单数（确认解决或自动办结）"})
    avg_hours_to_close = fields.Float(allow_none=True, metadata={"description": "从提交到办结的平均小时数"})
    median_hours_to_close = fields.Float(allow_none=True, metadata={"description": "从提交到办结的小时数中位数"})


class CategoryRowSchema(FiguresRowSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String(metadata={"description": "类别名称"})
    kind = fields.String(metadata={"description": "report 或 wish"})


class ChildRowSchema(FiguresRowSchema):
    id = fields.Integer()
    name = fields.String(metadata={"description": "下级单位名称"})
    level = fields.String(metadata={"description": "street、community 或 grid：用作下钻的参数"})


class WeekRowSchema(FiguresRowSchema):
    week_start = fields.Date(metadata={"description": "该周周一（北京时间）；首尾两周可能不完整"})


class HotspotBuildingSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    grid_id = fields.Integer()
    grid = fields.String(metadata={"description": "网格名称"})
    community = fields.String(metadata={"description": "社区名称"})


class HotspotCategorySchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class HotspotSchema(Schema):
    building = fields.Nested(HotspotBuildingSchema)
    category = fields.Nested(HotspotCategorySchema)
    count = fields.Integer(metadata={"description": "统计期内该楼栋该类别的工单数"})
    weeks = fields.Integer(metadata={"description": "最近13周（含统计期最后一天所在周）中有工单的周数"})
    recurring = fields.Boolean(metadata={"description": "反复出现：weeks 不少于3"})
    latest_ticket_id = fields.String(allow_none=True, metadata={"description": "最近一张工单的 id"})


class StatsSchema(FiguresRowSchema):
    scope = fields.Nested(PlaceSchema, metadata={"description": "统计范围"})
    path = fields.List(fields.Nested(PlaceSchema), metadata={"description": "可返回的上级范围，从大到小"})
    period = fields.Nested(PeriodSchema, metadata={"description": "统计期间：北京时间自然日，结束日期不含"})
    kind = fields.String(allow_none=True, metadata={"description": "report、wish，或 null（合计）"})
    as_of = LocalDateTime(metadata={"description": "计算时间：应接单、应办结和当前超期以此刻为准"})
    by_category = fields.List(fields.Nested(CategoryRowSchema), metadata={"description": "按类别（只列有工单的类别）"})
    by_child = fields.List(fields.Nested(ChildRowSchema), metadata={"description": "按下级单位：全部→街道，街道→社区，社区→网格"})
    weekly = fields.List(fields.Nested(WeekRowSchema), metadata={"description": "按周趋势"})
    hotspots = fields.List(fields.Nested(HotspotSchema), metadata={"description": "热点：楼栋 × 类别"})


@blp.route("/stats")
class WorkStats(MethodView):
    @login_required
    @blp.arguments(StatsArgs(), location="query")
    @blp.response(200, StatsSchema)
    @blp.alt_response(403, description="居民、骑手不能查看")
    @blp.alt_response(404, description="所选范围不存在或不在本人管辖范围内")
    def get(self, args):
        """The figures of the caller's scope (or of a street, community or grid within it) for
        the tickets created in a period of Beijing days: the response, on-time closure and
        satisfaction rates with their counts, the overdue, the hours to close, per category,
        per child unit and per week, and the hotspots."""
        actor = current_actor()
        scope = resolve_scope(
            actor, street_id=args["street_id"], community_id=args["community_id"], grid_id=args["grid_id"],
        )
        return compute.figures(actor, scope, args["period"], kind=args["kind"])
