"""Login: WeChat (wx.login code), dev login for the demo, logout, and the demo's accounts.

The dev routes are always registered (so the OpenAPI document shows them) but answer 404
unless the app runs with DEV_LOGIN; production refuses to start with DEV_LOGIN on.
"""
from __future__ import annotations

from flask import abort, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from miniprogram_api.security import bearer_token, login_required
from webapp.errors import ErrorSchema
from webapp.extensions import db
from webapp.limits import login_per_address
from webapp.people import auth

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="登录")


class WeChatLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128))


class DevLoginSchema(Schema):
    openid = fields.String(required=True, validate=validate.Length(min=1, max=64))


class UserSchema(Schema):
    id = fields.String()
    roles = fields.List(fields.String())


class LoginSchema(Schema):
    token = fields.String()
    expires_in = fields.Integer(metadata={"description": "token 有效期（秒）"})
    user = fields.Nested(UserSchema)


class DevAccountSchema(Schema):
    openid = fields.String()
    name = fields.String()
    roles = fields.List(fields.String())
    scope = fields.String()


class DevAccountsSchema(Schema):
    items = fields.List(fields.Nested(DevAccountSchema))


def _login_body(token: str, expires_in: int, actor) -> dict:
    return {
        "token": token,
        "expires_in": expires_in,
        "user": {"id": actor.person_id, "roles": auth.roles_of(actor)},
    }


def _require_dev_login() -> None:
    if not current_app.config.get("DEV_LOGIN"):
        abort(404)


@blp.route("/auth/wechat")
class WeChatLogin(MethodView):
    @login_per_address
    @blp.arguments(WeChatLoginSchema())
    @blp.response(200, LoginSchema)
    @blp.alt_response(401, description="登录凭证无效或已使用（wechat_code_invalid），请重新 wx.login")
    @blp.alt_response(403, description="该微信账号被微信判定为高风险、限制登录（wechat_user_blocked），重新登录无效")
    @blp.alt_response(429, description="登录过于频繁（wechat_rate_limited），按 Retry-After 秒后再试")
    @blp.alt_response(
        503, schema=ErrorSchema,
        description="微信服务不可用（wechat_unavailable），或服务器未配置微信登录（wechat_not_configured）",
    )
    def post(self, body):
        """Log in with the code of wx.login(); the WeChat session key stays on the server.

        401 wechat_code_invalid: get a new code and log in again. 403 wechat_user_blocked:
        WeChat restricts this account for risk reasons; do not loop on login. 429
        wechat_rate_limited: wait the Retry-After header's seconds.
        """
        result = auth.login_with_wechat(body["code"])
        db.session.commit()
        return _login_body(*result)


@blp.route("/auth/dev")
class DevLogin(MethodView):
    @login_per_address
    @blp.arguments(DevLoginSchema())
    @blp.response(200, LoginSchema)
    @blp.alt_response(404, description="未开启演示登录（DEV_LOGIN）")
    def post(self, body):
        """Demo only (DEV_LOGIN=1): log in as whoever holds an openid; unknown ones become residents."""
        _require_dev_login()
        result = auth.login_dev(body["openid"])
        db.session.commit()
        return _login_body(*result)


@blp.route("/dev/accounts")
class DevAccounts(MethodView):
    @blp.response(200, DevAccountsSchema)
    @blp.alt_response(404, description="未开启演示登录（DEV_LOGIN）")
    def get(self):
        """Demo only (DEV_LOGIN=1): every staff member and rider with the openid to log in as."""
        _require_dev_login()
        return {"items": auth.dev_accounts()}


@blp.route("/auth/logout")
class Logout(MethodView):
    @login_required
    @blp.response(204)
    def post(self):
        """End the session of the token sent."""
        auth.logout(bearer_token())
        db.session.commit()
