"""The worker's side: the queue of tickets in the caller's scope, and the lists staff pick
from when they act on one (the staff who can be given a ticket, the reasons of each action)."""
from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from miniprogram_api.fields import local_time
from miniprogram_api.pagination import PageArgs
from miniprogram_api.schemas.tickets import TicketPageSchema, WorkQueryArgs
from miniprogram_api.security import current_actor, login_required
from webapp.errors import Forbidden
from webapp.extensions import db
from webapp.people import directory
from webapp.people.models import Role
from webapp.privacy import access
from webapp.tickets.queue import queue_page
from webapp.tickets.state_machine import ACTION_LABELS, REASON_REQUIRED, REASONS

blp = Blueprint("work", __name__, url_prefix="/api/v1/work", description="网格员工作台")


class WorkListArgs(WorkQueryArgs, PageArgs):
    pass


@blp.route("/tickets")
class WorkTickets(MethodView):
    @blp.arguments(WorkListArgs(), location="query")
    @blp.response(200, TicketPageSchema)  # the documented shape; the body is made below
    def get(self, args):
        """Tickets in the caller's scope (grid, community or street, decided by the server)."""
        actor = current_actor()
        listed = queue_page(
            actor, cursor=args["cursor"], limit=args["limit"], status=args["status"],
            overdue=args["overdue"], category=args["category"], kind=args["kind"],
            reporter=args["reporter"], q=args["q"], grid_id=args["grid_id"], mine=args["mine"],
            when=local_time,
        )
        if access.tickets_listed(actor, listed["items"], door="api", address=request.remote_addr):
            db.session.commit()  # the access log: the wishes' texts listed
        # Already the contract's shape (what TicketPageSchema would dump, with the timestamps
        # the app's JSON writer formats; tests/api/test_work_queue_fast.py checks it): a
        # Response is passed through by flask-smorest.
        return current_app.json.response(listed)


def _staff_actor():
    actor = current_actor()
    if not actor.is_staff:
        raise Forbidden("只有工作人员可以查看", code="staff_only")
    return actor


class StaffQueryArgs(Schema):
    role = fields.String(
        load_default=None,
        validate=validate.OneOf([r.value for r in Role], error="未知的角色"),
        metadata={"description": "只列出该角色：grid_worker、professional、community_staff……"},
    )
    q = fields.String(
        load_default=None, validate=validate.Length(max=40),
        metadata={"description": "姓名中的字，或人员编码（完全一致）"},
    )


class StaffEntrySchema(Schema):
    id = fields.String(metadata={"description": "人员 id：派单、改派的 target"})
    name = fields.String()
    role = fields.String(metadata={"description": "角色编码"})
    role_label = fields.String(metadata={"description": "角色（中文）"})
    scope = fields.String(metadata={"description": "负责范围，如“幸福社区第1网格”"})


class StaffListSchema(Schema):
    items = fields.List(fields.Nested(StaffEntrySchema))


@blp.route("/staff")
class WorkStaff(MethodView):
    @login_required
    @blp.arguments(StaffQueryArgs(), location="query")
    @blp.response(200, StaffListSchema)
    @blp.alt_response(403, description="居民、骑手不能查看")
    def get(self, args):
        """The staff in the caller's scope who can be given a ticket (dispatch, reassign), by
        name; at most 200."""
        entries = directory.assignable_staff(_staff_actor(), role=args["role"], q=args["q"])
        return {"items": entries}


class ReasonSchema(Schema):
    code = fields.String()
    label = fields.String()


ReasonsSchema = Schema.from_dict(
    {
        action.value: fields.List(
            fields.Nested(ReasonSchema),
            metadata={"description": f"{ACTION_LABELS[action]}的原因"
                      + ("（必填）" if action in REASON_REQUIRED else "（可不填）")},
        )
        for action in REASONS
    },
    name="Reasons",
)


@blp.route("/reasons")
class WorkReasons(MethodView):
    @login_required
    @blp.response(200, ReasonsSchema)
    @blp.alt_response(403, description="居民、骑手不能查看")
    def get(self):
        """The reason codes each action takes, with their Chinese labels: return, reassign,
        escalate, reject, merge. Return, reject and merge need one."""
        _staff_actor()
        return {
            action.value: [{"code": code, "label": label} for code, label in choices.items()]
            for action, choices in REASONS.items()
        }
