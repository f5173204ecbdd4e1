"""Tickets of residents and riders: submit, follow, me-too, feedback; and staff actions."""
from __future__ import annotations

import dataclasses

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from miniprogram_api.fields import local_time
from miniprogram_api.pagination import PageArgs
from miniprogram_api.schemas.tickets import (
    ActionSchema,
    FeedbackSchema,
    MeTooSchema,
    TicketCreateSchema,
    TicketDetailSchema,
    TicketPageSchema,
    TicketSchema,
)
from miniprogram_api.security import current_actor, person_key
from webapp import limits
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.privacy import access
from webapp.reads import session_in_transaction
from webapp.tickets import actions, submission, wishes
from webapp.tickets.mine import my_tickets_page
from webapp.tickets.presenter import TicketPresenter
from webapp.tickets.state_machine import ActionInput

# Submissions: per person and per building per minute (the daily caps: in the view, counted
# only for a ticket really filed, never for a replay of the same Idempotency-Key nor a refusal).
submit_per_person = limits.route_limit(
    "RATE_LIMIT_SUBMIT_PER_PERSON", scope="submit-person", key_func=person_key
)
submit_per_code = limits.route_limit(
    "RATE_LIMIT_SUBMIT_PER_CODE", scope="submit-code", key_func=limits.body_code_key
)

blp = Blueprint("tickets", __name__, url_prefix="/api/v1/tickets", description="随手拍与心语心愿工单")

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 100


# The secrets of the caller's anonymous wishes (each submission's author_secret), kept by the
# mini-program and sent back so that "mine" lists those wishes (webapp.tickets.wishes).
WISH_SECRETS_HEADER = "X-Wish-Secrets"
WISH_SECRETS_MAX = 100
WISH_SECRETS = r"^[A-Za-z0-9_-]{43}(,[A-Za-z0-9_-]{43}){0,%d}$" % (WISH_SECRETS_MAX - 1)


class WishSecretsHeader(Schema):
    wish_secrets = fields.String(
        data_key=WISH_SECRETS_HEADER, load_default=None,
        validate=validate.Regexp(WISH_SECRETS, error=f"匿名心愿凭证格式不正确：最多{WISH_SECRETS_MAX}个，以英文逗号分隔，每个43个字符"),
        metadata={"description": (
            "本人匿名心愿的凭证（提交匿名心愿时返回的 author_secret），多个用英文逗号分隔，最多100个；"
            "带上后“我的”会列出这些匿名心愿。格式不对：422"
        )},
    )


class TicketCreatedSchema(TicketSchema):
    author_secret = fields.String(
        metadata={"description": (
            "仅匿名心愿：该心愿的凭证（43个字符）。服务器只保存其加密哈希，请保存在本机，之后放在请求头 "
            "X-Wish-Secrets 中，才能在“我的”中列出该心愿；同一 Idempotency-Key 重试时返回相同的凭证。"
            "其他工单无此字段"
        )},
    )


def _actor(wish_secrets: str | None = None):
    """The caller, with the wish secrets the request presents (X-Wish-Secrets)."""
    actor = current_actor()
    if not wish_secrets:
        return actor
    return dataclasses.replace(actor, wish_secrets=tuple(dict.fromkeys(wish_secrets.split(","))))


def _detail(actor, ticket) -> dict:
    """A ticket's detail for the caller; a staff member's view of its personal data (a full
    contact phone, a wish's text, a comment) is written to the access log and committed."""
    view = TicketPresenter(actor).detail(ticket)
    if access.ticket_viewed(actor, ticket, door="api", address=request.remote_addr,
                            full_phone=view["contact_phone"] is not None):
        db.session.commit()
    return view


def _idempotency_key() -> str:
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
        raise DomainError(
            "缺少请求标识 Idempotency-Key，请更新小程序后重试",
            code="idempotency_key_required",
            errors={IDEMPOTENCY_HEADER: ["必填，最长100个字符"]},
        )
    return key


@blp.route("")
class TicketCollection(MethodView):
    @submit_per_person
    @submit_per_code
    @blp.arguments(TicketCreateSchema())
    @blp.response(201, TicketCreatedSchema)
    @blp.alt_response(200, schema=TicketCreatedSchema, description="同一请求标识的重复提交：返回已有工单")
    @blp.alt_response(429, description="提交过于频繁，或已达每日上限，按 Retry-After 秒后再试")
    @blp.doc(parameters=[{
        "in": "header", "name": IDEMPOTENCY_HEADER, "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
        "description": "客户端为每次提交生成的唯一标识（如 UUID），重试时原样带上；缺少或超过100个字符：400",
    }])
    def post(self, body):
        """Submit a report (随手拍) or a wish (心语心愿) at the building of a scanned code.

        Raises 400 without Idempotency-Key, 404/410 for the code, 422 for bad input or a reused
        key with another body. An anonymous wish's answer carries its author_secret.
        """
        actor = current_actor()
        key = _idempotency_key()
        limits.check_daily_caps(actor.person_id, body["code"], body["kind"])
        try:
            filed = submission.submit_ticket(actor, submission.Submission(**body), key)
        except DomainError:
            db.session.rollback()  # a refused submission leaves nothing, not even its claim
            raise
        presenter = TicketPresenter(actor)
        if filed.names is not None:  # what the submission read: shown without reading again
            presenter.remember(filed.ticket, filed.names)
        # Before commit (no reload of the ticket), already in the contract's shape (what
        # TicketSchema would dump): flask-smorest passes a Response through.
        shown = presenter.summary(filed.ticket, when=local_time)
        if filed.ticket.is_anonymous:  # given to the author's device: nothing stored holds it
            shown["author_secret"] = wishes.author_secret(actor.person_id, filed.ticket.created_at)
        view = current_app.json.response(shown)
        if session_in_transaction():  # else written and committed on its own (filing.file_ticket)
            db.session.commit()
        if filed.created:
            limits.count_daily_caps(actor.person_id, body["code"], body["kind"])
        return view, 201 if filed.created else 200


@blp.route("/mine")
class MyTickets(MethodView):
    @blp.arguments(PageArgs(), location="query")
    @blp.arguments(WishSecretsHeader(), location="headers", as_kwargs=True)
    @blp.response(200, TicketPageSchema)
    def get(self, args, wish_secrets=None):
        """My reports and wishes, newest first: my anonymous wishes are those whose secrets
        the request presents (X-Wish-Secrets), and those filed before secrets existed."""
        return my_tickets_page(_actor(wish_secrets), cursor=args["cursor"], limit=args["limit"])


@blp.route("/<string:ticket_id>")
class TicketItem(MethodView):
    @blp.response(200, TicketDetailSchema)
    def get(self, ticket_id):
        """One ticket with its timeline. 404 unless the caller may see it."""
        actor = current_actor()
        return _detail(actor, actions.visible_ticket(actor, ticket_id))


@blp.route("/<string:ticket_id>/me-too")
class MeToo(MethodView):
    @blp.response(200, MeTooSchema)
    def post(self, ticket_id):
        """我也遇到: add my voice to an open report, once."""
        ticket = actions.say_me_too(current_actor(), ticket_id)
        db.session.commit()
        return {"me_too_count": ticket.me_too_count}


@blp.route("/<string:ticket_id>/feedback")
class Feedback(MethodView):
    @blp.arguments(FeedbackSchema())
    @blp.response(200, TicketDetailSchema)
    def post(self, body, ticket_id):
        """The reporter confirms and rates a resolved ticket, or reopens it (resolved: false)."""
        actor = current_actor()
        ticket = actions.give_feedback(actor, ticket_id, **body)
        db.session.commit()
        return _detail(actor, ticket)


@blp.route("/<string:ticket_id>/actions")
class Actions(MethodView):
    @blp.arguments(ActionSchema())
    @blp.response(200, TicketDetailSchema)
    def post(self, body, ticket_id):
        """A staff action: accept, resolve, return, reassign, escalate, reject, merge.

        Raises 403 for residents, 404 outside the caller's scope, 409 for an illegal or stale
        move, 422 for a missing reason, photo or target.
        """
        actor = current_actor()
        given = ActionInput(
            note=body["note"], reason=body["reason"], photo_ids=body["photo_ids"],
            target=body["target"], expected_version=body["version"],
        )
        ticket = actions.act_on_ticket(actor, ticket_id, body["action"], given)
        db.session.commit()
        return _detail(actor, ticket)
