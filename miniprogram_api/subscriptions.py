"""Subscribe-message consents: the mini-program reports what wx.requestSubscribeMessage answered."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, pre_load, validate

from miniprogram_api.security import current_actor, login_required
from webapp.extensions import db
from webapp.notifications import subscriptions

blp = Blueprint(
    "subscriptions", __name__, url_prefix="/api/v1/subscriptions", description="订阅消息授权"
)

# wx.requestSubscribeMessage takes at most 3 template ids per call; leave room, stay bounded.
MAX_TEMPLATES = 10


class SubscribeResultsSchema(Schema):
    results = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.String(validate=validate.OneOf(subscriptions.RESULTS)),
        required=True,
        validate=validate.Length(min=1, max=MAX_TEMPLATES),
        metadata={"description": "模板 id → accept | reject | ban | filter"},
    )

    @pre_load
    def drop_err_msg(self, data, **kwargs):
        """The success callback's object also carries errMsg; clients may pass it as it is."""
        results = data.get("results") if isinstance(data, dict) else None
        if isinstance(results, dict) and "errMsg" in results:
            data = {**data, "results": {k: v for k, v in results.items() if k != "errMsg"}}
        return data


class SubscriptionStateSchema(Schema):
    remaining = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "每个模板还可以发送的消息条数"},
    )


@blp.route("")
class Subscriptions(MethodView):
    @login_required
    @blp.arguments(SubscribeResultsSchema())
    @blp.response(200, SubscriptionStateSchema)
    def post(self, body):
        """Record the result of wx.requestSubscribeMessage: each "accept" allows one more
        message of that template. Returns how many messages each template may still send."""
        remaining = subscriptions.record_subscribe_results(current_actor(), body["results"])
        db.session.commit()
        return {"remaining": remaining}
