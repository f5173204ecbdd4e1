"""The worker's side: the queue of tickets in the caller's scope."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.fields import local_time
from miniprogram_api.pagination import PageArgs
from miniprogram_api.schemas.tickets import TicketPageSchema, WorkQueryArgs
from miniprogram_api.security import current_actor
from webapp.tickets.queue import queue_page

blp = Blueprint("work", __name__, url_prefix="/api/v1/work", description="网格员工作台")


class WorkListArgs(WorkQueryArgs, PageArgs):
    pass


@blp.route("/tickets")
class WorkTickets(MethodView):
    @blp.arguments(WorkListArgs(), location="query")
    @blp.response(200, TicketPageSchema)  # the documented shape; the body is made below
    def get(self, args):
        """Tickets in the caller's scope (grid, community or street, decided by the server)."""
        listed = queue_page(
            current_actor(), cursor=args["cursor"], limit=args["limit"], status=args["status"],
            overdue=args["overdue"], category=args["category"], kind=args["kind"], when=local_time,
        )
        # Already the contract's shape (what TicketPageSchema would dump, with the timestamps
        # the app's JSON writer formats; tests/api/test_work_queue_fast.py checks it): a
        # Response is passed through by flask-smorest.
        return current_app.json.response(listed)
