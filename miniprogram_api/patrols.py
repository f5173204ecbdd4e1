"""Patrols (一日双巡): check in at a building by its code; the grid's buildings not visited today."""
from __future__ import annotations

import base64
import binascii
import json

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from miniprogram_api.fields import MAX_ROW_ID, LocalDateTime, row_id
from miniprogram_api.pagination import PageArgs
from miniprogram_api.schemas.places import BuildingSchema
from miniprogram_api.security import current_actor, login_required
from webapp.extensions import db
from webapp.patrols import checkins
from webapp.registry.models import Building

blp = Blueprint("patrols", __name__, url_prefix="/api/v1/work/patrols", description="巡查打卡（一日双巡）")


def _encode_cursor(building_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([building_id]).encode()).decode().rstrip("=")


class BuildingCursor(fields.String):
    """The opaque cursor of a building list: decoded to the last building id seen."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            (building_id,) = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if not 0 <= int(building_id) <= MAX_ROW_ID:  # never reaches the database
                raise ValueError(building_id)
            return int(building_id)
        except (ValueError, TypeError, binascii.Error):
            raise ValidationError("无效的分页游标") from None


class CheckInSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))


class PatrolSchema(Schema):
    id = fields.Integer()
    building = fields.Nested(BuildingSchema)
    checked_in_at = LocalDateTime()
    today_count = fields.Integer(metadata={"description": "该楼栋今天（北京时间）的巡查次数，含本次"})


class UnvisitedArgs(PageArgs):
    cursor = BuildingCursor(load_default=None)
    grid_id = row_id(
        load_default=None,
        metadata={"description": "网格 id；不填则为本人负责的唯一网格"},
    )


class UnvisitedBuildingSchema(BuildingSchema):
    last_checked_in_at = LocalDateTime(allow_none=True, metadata={"description": "最近一次巡查时间"})


class UnvisitedPageSchema(Schema):
    items = fields.List(fields.Nested(UnvisitedBuildingSchema))
    next_cursor = fields.String(allow_none=True)


def _building(building: Building) -> dict:
    grid = building.grid  # one grid per page: loaded once, then from the identity map
    return {
        "id": building.id, "name": building.name, "address": building.address,
        "community": grid.community.name, "grid": grid.name,
    }


@blp.route("")
class PatrolCheckIn(MethodView):
    @login_required
    @blp.arguments(CheckInSchema())
    @blp.response(201, PatrolSchema)
    @blp.alt_response(200, schema=PatrolSchema, description="10分钟内重复扫码：返回同一次打卡")
    @blp.alt_response(403, description="居民不能巡查打卡")
    @blp.alt_response(404, description="未知的二维码，或楼栋不在本人巡查范围")
    @blp.alt_response(410, description="二维码已停用")
    def post(self, body):
        """Check in at the building behind a printed code (staff only, within their scope)."""
        actor = current_actor()
        patrol, today_count, created = checkins.check_in(actor, body["code"])
        db.session.commit()
        return {
            "id": patrol.id,
            "building": _building(patrol.building),
            "checked_in_at": patrol.checked_in_at,
            "today_count": today_count,
        }, 201 if created else 200


@blp.route("/unvisited")
class Unvisited(MethodView):
    @login_required
    @blp.arguments(UnvisitedArgs(), location="query")
    @blp.response(200, UnvisitedPageSchema)
    @blp.alt_response(403, description="居民不能查看")
    @blp.alt_response(404, description="网格不存在或不在本人范围")
    def get(self, args):
        """The buildings of a grid nobody has checked in at today (Asia/Shanghai), by id."""
        actor = current_actor()
        query = checkins.unvisited_buildings_query(actor, args["grid_id"])
        if args["cursor"]:
            query = query.where(Building.id > args["cursor"])
        rows = db.session.execute(query.limit(args["limit"] + 1)).all()
        more = len(rows) > args["limit"]
        rows = rows[: args["limit"]]
        items = [_building(building) | {"last_checked_in_at": last} for building, last in rows]
        cursor = _encode_cursor(rows[-1][0].id) if more else None
        return {"items": items, "next_cursor": cursor}
