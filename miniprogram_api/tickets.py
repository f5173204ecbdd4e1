"""Tickets of residents and riders: submit, follow, me-too, feedback; and staff actions."""
from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

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
from webapp.limits import limiter, setting
from webapp.tickets import actions, submission
from webapp.tickets.mine import my_tickets_page
from webapp.tickets.presenter import TicketPresenter
from webapp.tickets.state_machine import ActionInput

# Submissions: per person and per building per minute (the daily caps: in the view, counted
# only for a ticket really filed, never for a replay of the same Idempotency-Key nor a refusal).
submit_per_person = limiter.limit(
    setting("RATE_LIMIT_SUBMIT_PER_PERSON"), key_func=person_key, scope="submit-person"
)
submit_per_code = limiter.limit(
    setting("RATE_LIMIT_SUBMIT_PER_CODE"), key_func=limits.body_code_key, scope="submit-code"
)

blp = Blueprint("tickets", __name__, url_prefix="/api/v1/tickets", description="随手拍与心语心愿工单")

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 100


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
    @blp.response(201, TicketSchema)
    @blp.alt_response(200, schema=TicketSchema, description="同一请求标识的重复提交：返回已有工单")
    @blp.alt_response(429, description="提交过于频繁，或已达每日上限，按 Retry-After 秒后再试")
    @blp.doc(parameters=[{
        "in": "header", "name": IDEMPOTENCY_HEADER, "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
        "description": "客户端为每次提交生成的唯一标识（如 UUID），重试时原样带上；缺少或超过100个字符：400",
    }])
    def post(self, body):
        """Submit a report (随手拍) or a wish (心语心愿) at the building of a scanned code.

        Raises 400 without Idempotency-Key, 404/410 for the code, 422 for bad input or a reused
        key with another body.
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
        view = current_app.json.response(presenter.summary(filed.ticket, when=local_time))
        db.session.commit()
        if filed.created:
            limits.count_daily_caps(actor.person_id, body["code"], body["kind"])
        return view, 201 if filed.created else 200


@blp.route("/mine")
class MyTickets(MethodView):
    @blp.arguments(PageArgs(), location="query")
    @blp.response(200, TicketPageSchema)
    def get(self, args):
        """My reports and wishes, newest first."""
        return my_tickets_page(current_actor(), cursor=args["cursor"], limit=args["limit"])


@blp.route("/<string:ticket_id>")
class TicketItem(MethodView):
    @blp.response(200, TicketDetailSchema)
    def get(self, ticket_id):
        """One ticket with its timeline. 404 unless the caller may see it."""
        actor = current_actor()
        return TicketPresenter(actor).detail(actions.visible_ticket(actor, ticket_id))


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
        return TicketPresenter(actor).detail(ticket)


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
        return TicketPresenter(actor).detail(ticket)
