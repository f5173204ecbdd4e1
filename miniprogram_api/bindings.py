"""Binding staff to WeChat: supervisors issue one-time codes, staff redeem them after login."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from miniprogram_api.fields import LocalDateTime
from miniprogram_api.security import current_actor, login_required
from webapp.extensions import db
from webapp.people import auth, bindings

blp = Blueprint("bindings", __name__, url_prefix="/api/v1", description="工作人员微信绑定")


class BindCodeCreateSchema(Schema):
    person_id = fields.String(required=True, validate=validate.Length(min=1, max=40))


class BoundPersonSchema(Schema):
    id = fields.String()
    name = fields.String()


class BindCodeSchema(Schema):
    code = fields.String(metadata={"description": "一次性绑定码，仅显示这一次"})
    expires_at = LocalDateTime()
    person = fields.Nested(BoundPersonSchema)


class BindSchema(Schema):
    bind_code = fields.String(required=True, validate=validate.Length(min=1, max=40))


class BoundUserSchema(Schema):
    id = fields.String()
    roles = fields.List(fields.String())


@blp.route("/work/bind-codes")
class BindCodes(MethodView):
    @login_required
    @blp.arguments(BindCodeCreateSchema())
    @blp.response(201, BindCodeSchema)
    @blp.alt_response(403, description="只有社区、街道工作人员或管理员可以签发")
    @blp.alt_response(404, description="不是工作人员，或不在本人管理范围")
    def post(self, body):
        """Issue a one-time bind code (24 h) for a staff member in the caller's scope; a new code
        ends the previous unused one."""
        row, code = bindings.create_bind_code(current_actor(), body["person_id"])
        db.session.commit()
        return {
            "code": code,
            "expires_at": row.expires_at,
            "person": {"id": row.person.id, "name": row.person.name},
        }


@blp.route("/auth/bind")
class Bind(MethodView):
    @login_required
    @blp.arguments(BindSchema())
    @blp.response(200, BoundUserSchema)
    @blp.alt_response(409, description="当前微信账号已有反映记录或其他身份")
    @blp.alt_response(422, description="绑定码无效、过期或已使用")
    def post(self, body):
        """Redeem a bind code: this WeChat account becomes the staff member's login. The token in
        use now acts as the staff member (no new token); the temporary resident is removed."""
        staff = bindings.redeem_bind_code(current_actor(), body["bind_code"])
        db.session.commit()
        return {"id": staff.person_id, "roles": auth.roles_of(staff)}
