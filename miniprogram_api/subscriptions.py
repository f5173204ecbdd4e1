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
TEMPLATE_ID_MAX_LENGTH = 64  # the ledger's column; WeChat's ids are 43 characters

RESULT_DESCRIPTION = (
    "wx.requestSubscribeMessage 的结果：模板 id → " + " | ".join(subscriptions.RESULTS)
    + "。accept 及其带提醒方式的形式（acceptWithAudio、acceptWithAlert 等以 acceptWith 开头的值）"
    "都算同意：一次性模板可多发一条，长期订阅模板此后每条都可发送；ban 表示模板被封禁，清零；"
    "reject、filter 不改变已有授权。无法识别的值只忽略该模板（列在返回的 ignored 中），"
    "不影响其他模板。成功回调里的 errMsg 可以原样带上，会被忽略。"
)


class SubscribeResultsSchema(Schema):
    results = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=TEMPLATE_ID_MAX_LENGTH)),
        # Any JSON value: one this API does not understand is ignored for its template only.
        values=fields.Raw(
            allow_none=True,
            metadata={
                "type": "string",
                "description": "accept | acceptWithAudio | acceptWithAlert | reject | ban | filter",
            },
        ),
        required=True,
        validate=validate.Length(
            min=1, max=MAX_TEMPLATES, error="模板数量必须在 {min} 到 {max} 个之间"
        ),
        metadata={
            "description": RESULT_DESCRIPTION,
            "minProperties": 1,
            "maxProperties": MAX_TEMPLATES,
        },
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
        metadata={
            "description": "每个模板还可以发送的消息条数（长期订阅模板：1 表示已订阅，发送不消耗）"
        },
    )
    ignored = fields.List(
        fields.String(),
        metadata={"description": "结果无法识别而被忽略的模板 id（这些模板的授权未改变）"},
    )


@blp.route("")
class Subscriptions(MethodView):
    @login_required
    @blp.arguments(SubscribeResultsSchema())
    @blp.response(200, SubscriptionStateSchema)
    def post(self, body):
        """Record the result of wx.requestSubscribeMessage: each accept allows one more message
        of a one-time template, or every message of a long-term one. Returns how many messages
        each template may still send, and the templates whose result was not understood."""
        outcome = subscriptions.record_subscribe_results(current_actor(), body["results"])
        db.session.commit()
        return {"remaining": outcome.remaining, "ignored": outcome.ignored}
