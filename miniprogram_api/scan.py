"""GET /api/v1/scan/<code>: what a scan of a building's printed code shows."""
from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from miniprogram_api.fields import LocalDateTime, local_time
from miniprogram_api.schemas.places import BuildingSchema
from webapp.limits import scan_per_address, scan_per_code
from webapp.registry import scan

blp = Blueprint("scan", __name__, url_prefix="/api/v1/scan", description="扫码：楼栋信息")


class ContactSchema(Schema):
    role = fields.String()
    name = fields.String()
    phone_masked = fields.String()
    categories = fields.List(fields.String())


class CategorySchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String(metadata={"enum": ["report", "wish"]})


class OpenTicketSchema(Schema):
    id = fields.String()
    number = fields.String()
    category = fields.String()
    summary = fields.String()
    status = fields.String()
    created_at = LocalDateTime()
    me_too_count = fields.Integer()


class ScanSchema(Schema):
    building = fields.Nested(BuildingSchema)
    units = fields.List(fields.String())
    contacts = fields.List(fields.Nested(ContactSchema))
    categories = fields.List(fields.Nested(CategorySchema))
    open_tickets = fields.List(fields.Nested(OpenTicketSchema))


def _scan_json(view: dict) -> dict:
    """ScanSchema's dump of a scan.scan() result, done by hand: the static part is already
    plain JSON values with exactly the schema's fields; created_at goes in Asia/Shanghai, which
    the app's JSON writer writes as LocalDateTime does. Keep in step with ScanSchema, which
    still documents the response in the OpenAPI file."""
    return {
        **view,
        "open_tickets": [
            {**ticket, "created_at": local_time(ticket["created_at"])} for ticket in view["open_tickets"]
        ],
    }


@blp.route("/<string:code>")
class Scan(MethodView):
    @scan_per_address
    @scan_per_code
    @blp.response(200, ScanSchema)
    @blp.alt_response(429, description="扫码过于频繁（本地址或本楼栋），按 Retry-After 秒后再试")
    @blp.alt_response(404, description="未知的二维码")
    @blp.alt_response(410, description="二维码已停用")
    def get(self, code: str):
        """The building behind a printed code, its contacts and open reports. No login needed.

        Raises 404 for an unknown code, 410 for a revoked one.
        """
        # A Response passes flask-smorest's schema dump by: marshmallow over the nested
        # contacts and categories cost more than the scan's two database round trips.
        return jsonify(_scan_json(scan.scan(code)))
