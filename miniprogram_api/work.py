"""The worker's side: the queue of tickets in the caller's scope."""
from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.orm import joinedload

from miniprogram_api.pagination import PageArgs, newest_first, page
from miniprogram_api.presenters import TicketPresenter
from miniprogram_api.schemas.tickets import TicketPageSchema, WorkQueryArgs
from miniprogram_api.security import current_actor
from webapp.domain import tickets
from webapp.extensions import db
from webapp.models import Ticket

blp = Blueprint("work", __name__, url_prefix="/api/v1/work", description="网格员工作台")


class WorkListArgs(WorkQueryArgs, PageArgs):
    pass


@blp.route("/tickets")
class WorkTickets(MethodView):
    @blp.arguments(WorkListArgs, location="query")
    @blp.response(200, TicketPageSchema)
    def get(self, args):
        """Tickets in the caller's scope (grid, community or street, decided by the server)."""
        return queue_page(
            current_actor(), cursor=args["cursor"], limit=args["limit"], status=args["status"],
            overdue=args["overdue"], category=args["category"], kind=args["kind"],
        )


def queue_page(actor, *, cursor, limit: int, **filters) -> dict:
    """One page of the caller's queue, newest first: {"items", "next_cursor"} (the API and the
    console show the same list)."""
    query = tickets.work_queue_query(actor, page=(cursor, limit), **filters)
    query = newest_first(query, Ticket.created_at, Ticket.id, cursor, limit)
    # The category and unit names come with the page (many-to-one: two joins, no more rows).
    query = query.options(joinedload(Ticket.category), joinedload(Ticket.unit))
    rows, next_cursor = page(list(db.session.scalars(query)), limit, lambda t: (t.created_at, t.id))
    return {"items": TicketPresenter(actor).summaries(rows), "next_cursor": next_cursor}
