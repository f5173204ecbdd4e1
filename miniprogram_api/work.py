"""The worker's side: the queue of tickets in the caller's scope."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import Integer, bindparam, select

from miniprogram_api.fields import local_iso
from miniprogram_api.pagination import PageArgs, page
from miniprogram_api.presenters import as_is
from miniprogram_api.schemas.tickets import TicketPageSchema, WorkQueryArgs
from miniprogram_api.security import current_actor
from webapp.domain import names, tickets
from webapp.extensions import db
from webapp.models import Ticket
from webapp.models.tickets import STATUS_LABELS

blp = Blueprint("work", __name__, url_prefix="/api/v1/work", description="网格员工作台")


class WorkListArgs(WorkQueryArgs, PageArgs):
    pass


@blp.route("/tickets")
class WorkTickets(MethodView):
    @blp.arguments(WorkListArgs(), location="query")  # one instance, not one per request
    @blp.response(200, TicketPageSchema)  # the documented shape; the body is made below
    def get(self, args):
        """Tickets in the caller's scope (grid, community or street, decided by the server)."""
        listed = queue_page(
            current_actor(), cursor=args["cursor"], limit=args["limit"], status=args["status"],
            overdue=args["overdue"], category=args["category"], kind=args["kind"], when=local_iso,
        )
        # End the read-only transaction with a COMMIT, not the ROLLBACK of the session's
        # teardown: psycopg forgets a connection's prepared statements on ROLLBACK, and the
        # queue's statement, prepared (after 5 runs on a connection), is no longer planned
        # by PostgreSQL on every request (about 1 ms of the server's time each).
        db.session.commit()
        # Already the contract's shape (what TicketPageSchema would dump, tests/api/
        # test_work_queue_fast.py checks it): a Response is passed through by flask-smorest.
        return current_app.json.response(listed)


# The ticket's own columns a summary reads.
_TICKET_COLUMNS = (
    Ticket.id, Ticket.number, Ticket.kind, Ticket.status, Ticket.description, Ticket.level,
    Ticket.resolve_due_at, Ticket.accept_due_at, Ticket.is_overdue, Ticket.created_at,
    Ticket.me_too_count, Ticket.rating, Ticket.is_anonymous, Ticket.version,
    Ticket.category_id, Ticket.unit_id, Ticket.building_id, Ticket.assignee_id,
)


def queue_statement(actor, *, cursor, limit: int, **filters):
    """(statement, parameters) of a page of the caller's queue: limit + 1 rows, newest first,
    in the columns summary() reads. The statement depends only on the shape of the page
    (tickets.work_queue_bound): it is built once per shape and kept."""
    shape, params = tickets.work_queue_bound(actor, cursor=cursor, limit=limit, **filters)
    statement = _statements.get(shape)
    if statement is None:
        if len(_statements) >= _MAX_STATEMENTS:  # shapes are few; never grow without bound
            _statements.clear()
        statement = _statements[shape] = _page_statement(tickets.work_queue_ids_bound(shape))
    return statement, params


_statements: dict[tuple, object] = {}
_MAX_STATEMENTS = 500


def _page_statement(ids):
    """One statement for a page: the tickets among `ids`, newest first, the first ROWS of
    them, in the columns summary() reads; the names of their places, categories, units and
    assignees come from webapp.domain.names (per process), not from joins."""
    return (
        select(*_TICKET_COLUMNS)
        .where(Ticket.id.in_(ids))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(bindparam(tickets.ROWS, type_=Integer()))
    )


_CREATED_AT = 9  # the index of created_at in a row of _page_statement (id is 0)
_CATEGORY, _UNIT, _BUILDING, _ASSIGNEE = 14, 15, 16, 17


def summary(row, shown: dict, when=as_is) -> dict:
    """A row of queue_statement as TicketPresenter.summary shows a ticket (keys in the order
    of TicketSchema), with the names of `shown` (names_for); `when` formats its timestamps
    (local_iso for the API)."""
    (
        ticket_id, number, kind, status, description, level, due_at, accept_due_at, is_overdue,
        created_at, me_too_count, rating, anonymous, version, category_id, unit_id, building_id,
        assignee_id,
    ) = row
    category_code, category_name = shown["categories"][category_id]
    return {
        "id": ticket_id,
        "number": number,
        "kind": kind.value,
        "category": category_code,
        "category_name": category_name,
        "status": status.value,
        "status_label": STATUS_LABELS[status],
        "description": description,
        "unit": None if unit_id is None else shown["units"][unit_id],
        "building": shown["buildings"][building_id],
        "assignee": None if assignee_id is None else shown["assignees"][assignee_id],
        "level": level,
        "due_at": when(due_at),
        "accept_due_at": when(accept_due_at),
        "is_overdue": is_overdue,
        "created_at": when(created_at),
        "me_too_count": me_too_count,
        "rating": rating,
        "anonymous": anonymous,
        "version": version,
    }


def names_for(rows) -> dict:
    """The names the summaries of these rows show (webapp.domain.names), by kind and id."""
    return {
        "categories": names.categories.get(row[_CATEGORY] for row in rows),
        "units": names.units.get(row[_UNIT] for row in rows),
        "buildings": names.buildings.get(row[_BUILDING] for row in rows),
        "assignees": names.assignees.get(row[_ASSIGNEE] for row in rows),
    }


def queue_page(actor, *, cursor, limit: int, when=as_is, **filters) -> dict:
    """One page of the caller's queue, newest first: {"items", "next_cursor"}, items as
    TicketPresenter.summary shows them, timestamps formatted by `when` (datetimes by
    default: the console formats them itself; the API passes local_iso). One statement, and
    the names the process has not seen lately (webapp.domain.names)."""
    statement, params = queue_statement(actor, cursor=cursor, limit=limit, **filters)
    # Plain rows: straight on the session's connection, past the ORM's result handling.
    rows = db.session.connection().execute(statement, params).all()
    rows, next_cursor = page(rows, limit, lambda row: (row[_CREATED_AT], row[0]))
    shown = names_for(rows)
    return {"items": [summary(row, shown, when) for row in rows], "next_cursor": next_cursor}
