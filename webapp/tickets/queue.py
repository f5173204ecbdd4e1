"""The work queue: the tickets in a staff member's scope, newest first, page by page.

work_queue_query is the whole scope as one condition (counts, any order); a page is read part
by part instead (work_queue_bound, work_queue_page_bound) and served by queue_page: one
statement kept per shape of page, on a connection outside the session (webapp.reads), rows
turned into summaries without marshmallow (webapp.tickets.presenter.summary_of).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Integer, bindparam, select, text, tuple_, union
from sqlalchemy.dialects import postgresql

from webapp.errors import Forbidden
from webapp.extensions import db
from webapp.pagination import page
from webapp.people.actors import Actor
from webapp.reads import ReadQuery, read_connection
from webapp.registry.models import Category, TicketKind
from webapp.tickets import access
from webapp.tickets.models import OPEN_SQL, OPEN_STATUSES, Ticket, TicketStatus
from webapp.tickets.presenter import SUMMARY_COLUMNS, as_is, names_for, summary_of


def work_queue_query(actor: Actor, *, status=None, overdue=None, category=None, kind=None):
    """The tickets in the caller's scope, decided by the server from their roles: one
    condition for the whole scope (counts, any order). A page of the queue newest first is
    read part by part instead: work_queue_bound / work_queue_page_bound."""
    _check_staff(actor)
    filters = _queue_filters(status, overdue, category or None, kind, paged=False)
    return select(Ticket).where(access.staff_scope_clause(actor), *filters)


# A page of the queue as a statement to keep and reuse: work_queue_bound() gives the shape of
# the caller's page (the kinds of their scope's parts and the filters used) and the values of
# its bind parameters; work_queue_page_bound(shape, columns) selects, with those parameters,
# at most limit + 1 tickets per part of the scope after the cursor, newest first: each part
# is read by an ordered index scan that stops there (the open-ticket partial indexes), and
# the newest limit + 1 of their union (a ticket in two parts once) are the page. Every grid
# worker's first page is one statement, built once.
ROWS = "rows"  # the bind parameter of the number of rows to read: the page's size + 1


def work_queue_bound(
    actor: Actor,
    *,
    cursor: tuple[datetime, str] | None,
    limit: int,
    status=None,
    overdue=None,
    category=None,
    kind=None,
) -> tuple[tuple, dict]:
    """(shape, parameters) of work_queue_page_bound for this page of the caller's queue."""
    _check_staff(actor)
    parts = access.scope_part_values(actor)
    params: dict = {ROWS: limit + 1}
    for index, (part, value) in enumerate(parts):
        if part == "matrix":
            params[f"part{index}"], params[f"part{index}_grids"] = value[0], list(value[1])
        elif part != "all":
            params[f"part{index}"] = value
    if cursor:
        params["cursor_at"], params["cursor_id"] = cursor
    if category:
        params["category"] = category
    status = "open" if status in (None, "open") else TicketStatus(status).value
    kind = TicketKind(kind).value if kind else None
    # On PostgreSQL a matrix part's grids are one array parameter: a professional answers for
    # a category in every grid (105 here), and as many parameters would be rendered into the
    # statement on every execution and keep it out of psycopg's cache (at most 50).
    arrays = db.session.get_bind().dialect.name == "postgresql"
    shape = (tuple(part for part, _ in parts), status, overdue, bool(category), kind, bool(cursor), arrays)
    return shape, params


def work_queue_page_bound(shape: tuple, columns):
    """The tickets of a page, newest first, as `columns` (of Ticket, with created_at and id),
    for every page of this shape (work_queue_bound), values left to bind parameters; the bind
    parameter ROWS is the number of rows to read."""
    part_kinds, status, overdue, category, kind, cursor, arrays = shape
    parts = []
    for index, part in enumerate(part_kinds):
        if part == "matrix":
            grids = (
                bindparam(f"part{index}_grids", type_=postgresql.ARRAY(Integer()))
                if arrays
                else bindparam(f"part{index}_grids", expanding=True)
            )
            value = (bindparam(f"part{index}"), grids)
        else:
            value = None if part == "all" else bindparam(f"part{index}")
        parts.append((part, value))
    filters = _queue_filters(status, overdue, bindparam("category") if category else None, kind, paged=True)
    if cursor:
        cursor = (
            bindparam("cursor_at", type_=Ticket.created_at.type),
            bindparam("cursor_id", type_=Ticket.id.type),
        )
    return _queue_page(parts, cursor or None, bindparam(ROWS, type_=Integer()), filters, columns)


def _queue_page(parts: list[tuple[str, object]], cursor, rows, filters: list, columns):
    """The newest `rows` tickets after the cursor among the newest `rows` of each part."""
    if cursor:
        filters = [*filters, tuple_(Ticket.created_at, Ticket.id) < tuple_(*cursor)]
    newest = (Ticket.created_at.desc(), Ticket.id.desc())
    selects = [
        select(*columns).where(access.scope_part_condition(part, value), *filters).order_by(*newest).limit(rows)
        for part, value in parts
    ]
    if len(selects) == 1:
        return selects[0]
    # Each part as a subquery (SQLite allows no LIMIT in a compound's members); UNION, not
    # UNION ALL: a ticket in two parts (the worker's grid and assigned to them) shows once.
    merged = union(*(select(*part.subquery().c) for part in selects)).subquery()
    return select(*merged.c).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(rows)


def _check_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("仅工作人员可以查看工作台", code="staff_only")


def _queue_filters(status, overdue, category, kind, *, paged: bool) -> list:
    """The conditions of the queue's filters (status defaults to the open ones); category is
    a code (or a bind parameter of one), None for any."""
    filters = []
    if status in (None, "open"):
        # Literal constants when listing by parts: the partial indexes are used only then.
        filters.append(text(OPEN_SQL) if paged else Ticket.status.in_(OPEN_STATUSES))
    else:
        filters.append(Ticket.status == TicketStatus(status))
    if overdue is not None:
        filters.append(Ticket.is_overdue.is_(overdue))
    if category is not None:
        # The category's id by its code, in the same statement (an unknown code matches none).
        filters.append(
            Ticket.category_id == select(Category.id).where(Category.code == category).scalar_subquery()
        )
    if kind:
        filters.append(Ticket.kind == TicketKind(kind))
    return filters


def queue_statement(actor, *, cursor, limit: int, **filters):
    """(statement, parameters) of a page of the caller's queue: limit + 1 rows, newest first,
    in SUMMARY_COLUMNS. The statement depends only on the shape of the page
    (work_queue_bound): it is built once per shape and kept."""
    query, params = _page_query(actor, cursor=cursor, limit=limit, **filters)
    return query.statement, params


def _page_query(actor, *, cursor, limit: int, **filters) -> tuple[ReadQuery, dict]:
    shape, params = work_queue_bound(actor, cursor=cursor, limit=limit, **filters)
    query = _queries.get(shape)
    if query is None:
        if len(_queries) >= _MAX_STATEMENTS:  # shapes are few; never grow without bound
            _queries.clear()
        query = _queries[shape] = ReadQuery(work_queue_page_bound(shape, SUMMARY_COLUMNS))
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
    the names the process has not seen lately (webapp.tickets.names), on a connection outside
    the session's transaction (webapp.reads)."""
    query, params = _page_query(actor, cursor=cursor, limit=limit, **filters)
    # Outside the session's transaction: on PostgreSQL one round trip in autocommit.
    with read_connection() as connection:
        rows, next_cursor = page(query.rows(connection, params), limit, _cursor_key)
        shown = names_for(rows, connection)
    return {"items": [summary_of(row, shown, when) for row in rows], "next_cursor": next_cursor}
