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
from webapp.domain import tickets
from webapp.domain.people import ASSIGNEE_LABEL_BY_RANK, assignee_role_rank
from webapp.extensions import db
from webapp.models import (
    Building,
    Category,
    Community,
    Grid,
    Person,
    Ticket,
    Unit,
)
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
    them, with their category, unit, building (with its grid and community) and assignee
    (name and role rank).

    The page is chosen first, in a subquery, and only its rows are joined: PostgreSQL plans
    the few joins of the outer query apart from the page (a quarter of the planning time of
    one flat join of eight tables, for the runs before the statement is prepared).
    """
    t = (
        select(*_TICKET_COLUMNS)
        .where(Ticket.id.in_(ids))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(bindparam(tickets.ROWS, type_=Integer()))
        .subquery("page")
    )
    role_rank = assignee_role_rank(t.c.assignee_id, correlate=t)
    return (
        select(
            t.c.id, t.c.number, t.c.kind, Category.code, Category.name, t.c.status,
            t.c.description, Unit.name, Building.id, Building.name, Building.address,
            Community.name, Grid.name, t.c.assignee_id, Person.name, role_rank, t.c.level,
            t.c.resolve_due_at, t.c.accept_due_at, t.c.is_overdue, t.c.created_at,
            t.c.me_too_count, t.c.rating, t.c.is_anonymous, t.c.version,
        )
        .select_from(t)
        .join(Category, Category.id == t.c.category_id)
        .join(Building, Building.id == t.c.building_id)
        .join(Grid, Grid.id == Building.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .outerjoin(Unit, Unit.id == t.c.unit_id)
        .outerjoin(Person, Person.id == t.c.assignee_id)
        .order_by(t.c.created_at.desc(), t.c.id.desc())
    )


_CREATED_AT = 20  # the index of created_at in a row of _page_statement (id is 0)


def summary(row, when=as_is) -> dict:
    """A row of queue_statement as TicketPresenter.summary shows a ticket (keys in the order
    of TicketSchema); `when` formats its timestamps (local_iso for the API)."""
    (
        ticket_id, number, kind, category_code, category_name, status, description, unit,
        building_id, building_name, address, community, grid, assignee_id, assignee_name, role_rank,
        level, due_at, accept_due_at, is_overdue, created_at, me_too_count, rating, anonymous,
        version,
    ) = row
    return {
        "id": ticket_id,
        "number": number,
        "kind": kind.value,
        "category": category_code,
        "category_name": category_name,
        "status": status.value,
        "status_label": STATUS_LABELS[status],
        "description": description,
        "unit": unit,
        "building": {
            "id": building_id, "name": building_name, "address": address,
            "community": community, "grid": grid,
        },
        "assignee": None if assignee_id is None else {
            "role": ASSIGNEE_LABEL_BY_RANK[role_rank], "name": assignee_name,
        },
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


def queue_page(actor, *, cursor, limit: int, when=as_is, **filters) -> dict:
    """One page of the caller's queue, newest first: {"items", "next_cursor"}, items as
    TicketPresenter.summary shows them, timestamps formatted by `when` (datetimes by
    default: the console formats them itself; the API passes local_iso). One statement."""
    statement, params = queue_statement(actor, cursor=cursor, limit=limit, **filters)
    # Plain rows: straight on the session's connection, past the ORM's result handling.
    rows = db.session.connection().execute(statement, params).all()
    rows, next_cursor = page(rows, limit, lambda row: (row[_CREATED_AT], row[0]))
    return {"items": [summary(row, when) for row in rows], "next_cursor": next_cursor}
