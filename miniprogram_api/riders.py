"""Riders: enrol with a community's invite code, see one's own standing."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from miniprogram_api.security import current_actor, login_required
from webapp.extensions import db
from webapp.people import riders

blp = Blueprint("riders", __name__, url_prefix="/api/v1/riders", description="骑手（兼职网格员）")

STATUSES = ["pending", "active", "suspended"]


class EnrollSchema(Schema):
    invite_code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=40))
    platform = fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "美团、饿了么、顺丰、京东……"},
    )


class EnrollResultSchema(Schema):
    status = fields.String(metadata={"enum": STATUSES})


class RiderStatsSchema(Schema):
    status = fields.String(metadata={"enum": STATUSES})
    reports = fields.Integer()
    accepted_reports = fields.Integer()
    points = fields.Integer()


@blp.route("/enroll")
class Enroll(MethodView):
    @login_required
    @blp.arguments(EnrollSchema())
    @blp.response(201, EnrollResultSchema)
    @blp.alt_response(200, schema=EnrollResultSchema, description="已登记过：返回当前状态")
    @blp.alt_response(422, description="邀请码无效、过期或已用完")
    def post(self, body):
        """Enrol as a rider of the invite's community: pending until approved, unless the
        invite approves at once. Enrolling again returns the current status (200)."""
        rider, created = riders.enroll(
            current_actor(), body["invite_code"], body["name"], body["platform"]
        )
        db.session.commit()
        return {"status": rider.status.value}, 201 if created else 200


@blp.route("/me")
class Me(MethodView):
    @login_required
    @blp.response(200, RiderStatsSchema)
    @blp.alt_response(404, description="还不是骑手")
    def get(self):
        """My rider status, my reports, how many were accepted, and my points."""
        return riders.rider_stats(current_actor())
