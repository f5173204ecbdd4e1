"""The worker's side: the queue of tickets in the caller's scope."""
from __future__ import annotations

from datetime import timezone

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from miniprogram_api.fields import local_time
from miniprogram_api.pagination import PageArgs, page
from miniprogram_api.presenters import SUMMARY_COLUMNS, as_is, names_for, summary_of
from miniprogram_api.schemas.tickets import TicketPageSchema, WorkQueryArgs
from miniprogram_api.security import current_actor
from webapp.domain import tickets
from webapp.reads import ReadQuery, read_connection

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


def queue_statement(actor, *, cursor, limit: int, **filters):
    """(statement, parameters) of a page of the caller's queue: limit + 1 rows, newest first,
    in SUMMARY_COLUMNS. The statement depends only on the shape of the page
    (tickets.work_queue_bound): it is built once per shape and kept."""
    query, params = _page_query(actor, cursor=cursor, limit=limit, **filters)
    return query.statement, params


def _page_query(actor, *, cursor, limit: int, **filters) -> tuple[ReadQuery, dict]:
    shape, params = tickets.work_queue_bound(actor, cursor=cursor, limit=limit, **filters)
    query = _queries.get(shape)
    if query is None:
        if len(_queries) >= _MAX_STATEMENTS:  # shapes are few; never grow without bound
            _queries.clear()
        query = _queries[shape] = ReadQuery(tickets.work_queue_page_bound(shape, SUMMARY_COLUMNS))
    return query, params


_queries: dict[tuple, ReadQuery] = {}
_MAX_STATEMENTS = 500

_CREATED_AT = [c.key for c in SUMMARY_COLUMNS].index("created_at")  # in a row of a page


def _cursor_key(row) -> tuple:
    # In UTC whatever the database session's time zone: the cursor the other lists make.
    return row[_CREATED_AT].astimezone(timezone.utc), row[0]


def queue_page(actor, *, cursor, limit: int, when=as_is, **filters) -> dict:
    """One page of the caller's queue, newest first: {"items", "next_cursor"}, items as
    TicketPresenter.summary shows them, timestamps formatted by `when` (datetimes by
    default: the console formats them itself; the API passes local_time). One statement, and
    the names the process has not seen lately (webapp.domain.names), on a connection outside
    the session's transaction (webapp.reads)."""
    query, params = _page_query(actor, cursor=cursor, limit=limit, **filters)
    # Outside the session's transaction: on PostgreSQL one round trip in autocommit.
    with read_connection() as connection:
        rows, next_cursor = page(query.rows(connection, params), limit, _cursor_key)
        shown = names_for(rows, connection)
    return {"items": [summary_of(row, shown, when) for row in rows], "next_cursor": next_cursor}
