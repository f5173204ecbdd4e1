"""The work queue: the tickets in a staff member's scope, newest first, page by page.

work_queue_query is the whole scope as one condition (counts, any order); a page is read part
by part instead (work_queue_bound, work_queue_page_bound) and served by queue_page: one
statement kept per shape of page, on a connection outside the session (webapp.reads), rows
turned into summaries without marshmallow (webapp.tickets.presenter.summary_of).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Integer, bindparam, func, or_, select, text, tuple_, union
from sqlalchemy.dialects import postgresql

from webapp.errors import Forbidden
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.pagination import decode_cursor, encode_cursor, page
from webapp.people.actors import Actor
from webapp.reads import PreparedStatement, read_connection
from webapp.registry.models import Category, Community, Grid, TicketKind
from webapp.tickets import access
from webapp.tickets.models import OPEN_SQL, OPEN_STATUSES, Ticket, TicketStatus
from webapp.tickets.presenter import SUMMARY_COLUMNS, as_is, names_for, summary_of

ANY_STATUS = "any"  # the status filter that keeps every status (counts by status)
REPORTERS = ("resident", "rider")  # the reporter filter: a resident's report or a rider's
Q_MAX = 40  # the longest text search (a number, or words of the description)


def work_queue_query(
    actor: Actor, *, status=None, overdue=None, category=None, kind=None,
    reporter=None, q=None, grid_id=None, mine=False,
):
    """The tickets in the caller's scope, decided by the server from their roles: one
    condition for the whole scope (counts, any order). A page of the queue newest first is
    read part by part instead: work_queue_bound / work_queue_page_bound.

    Filters: status ("open" by default: the open ones), overdue, category (a code), kind,
    reporter ("resident" or "rider"), q (a part of the number or of the description),
    grid_id, mine (held by the caller)."""
    _check_staff(actor)
    filters = _queue_filters(status, overdue, category or None, kind, paged=False)
    filters += _more_filters(reporter, _like(q), grid_id, actor.person_id if mine else None)
    return select(Ticket).where(access.staff_scope_clause(actor), *filters)


def _like(q: str | None) -> str | None:
    """The LIKE pattern of a text search (None: no search); `/` escapes % and _."""
    q = (q or "").strip()[:Q_MAX]
    if not q:
        return None
    return "%" + q.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _more_filters(reporter, like, grid_id, assignee_id) -> list:
    """The filters added with the console: the reporter's kind, a text search's LIKE pattern,
    a grid, the holder (values, or bind parameters; None for any)."""
    filters = []
    if reporter:
        if reporter not in REPORTERS:
            raise ValueError(reporter)
        filters.append(Ticket.is_rider_report.is_(reporter == "rider"))
    if like is not None:
        # A number is printed upper-case; its search ignores case, the description's as typed.
        filters.append(or_(
            Ticket.number.like(func.upper(like), escape="/"),
            Ticket.description.like(like, escape="/"),
        ))
    if grid_id is not None:
        filters.append(Ticket.grid_id == grid_id)
    if assignee_id is not None:
        filters.append(Ticket.assignee_id == assignee_id)
    return filters


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
    reporter=None,
    q=None,
    grid_id=None,
    mine=False,
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
    if reporter and reporter not in REPORTERS:
        raise ValueError(reporter)
    like = _like(q)
    if like is not None:
        params["q_like"] = like
    if grid_id is not None:
        params["grid_id"] = int(grid_id)
    if mine:
        params["mine"] = actor.person_id
    status = "open" if status in (None, "open") else TicketStatus(status).value
    kind = TicketKind(kind).value if kind else None
    # On PostgreSQL a matrix part's grids are one array parameter: a professional answers for
    # a category in every grid (105 here), and as many parameters would be rendered into the
    # statement on every execution and keep it out of psycopg's cache (at most 50).
    arrays = db.session.get_bind().dialect.name == "postgresql"
    shape = (tuple(part for part, _ in parts), status, overdue, bool(category), kind, bool(cursor), arrays)
    if reporter or like is not None or grid_id is not None or mine:  # the shapes of before stay
        shape += ((reporter or None, like is not None, grid_id is not None, bool(mine)),)
    return shape, params


def work_queue_page_bound(shape: tuple, columns):
    """The tickets of a page, newest first, as `columns` (of Ticket, with created_at and id),
    for every page of this shape (work_queue_bound), values left to bind parameters; the bind
    parameter ROWS is the number of rows to read."""
    part_kinds, status, overdue, category, kind, cursor, arrays = shape[:7]
    reporter, like, grid, mine = shape[7] if len(shape) > 7 else (None, False, False, False)
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
    filters += _more_filters(
        reporter, bindparam("q_like") if like else None,
        bindparam("grid_id", type_=Integer()) if grid else None, bindparam("mine") if mine else None,
    )
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
    if status == ANY_STATUS:
        pass
    elif status in (None, "open"):
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


def _page_query(actor, *, cursor, limit: int, **filters) -> tuple[PreparedStatement, dict]:
    shape, params = work_queue_bound(actor, cursor=cursor, limit=limit, **filters)
    query = _queries.get(shape)
    if query is None:
        if len(_queries) >= _MAX_STATEMENTS:  # shapes are few; never grow without bound
            _queries.clear()
        query = _queries[shape] = PreparedStatement(work_queue_page_bound(shape, SUMMARY_COLUMNS))
    return query, params


_queries: dict[tuple, PreparedStatement] = {}
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


# --- The console's reads: overdue first, counts by status, the filters' choices, messages. ---

_OVERDUE_FIRST = (Ticket.is_overdue.desc(), Ticket.created_at.desc(), Ticket.id.desc())


def encode_overdue_cursor(is_overdue: bool, created_at: datetime, ticket_id: str) -> str:
    """The cursor of a list overdue first: whether the last row shown was overdue, then its
    (created_at, id) as webapp.pagination makes them."""
    return ("o" if is_overdue else "n") + encode_cursor(created_at, ticket_id)


def decode_overdue_cursor(cursor: str) -> tuple[bool, datetime, str]:
    """(is_overdue, created_at, id) of encode_overdue_cursor's cursor; ValueError otherwise."""
    if not cursor or cursor[0] not in "on":
        raise ValueError("无效的分页游标")
    created_at, ticket_id = decode_cursor(cursor[1:])
    return cursor[0] == "o", created_at, ticket_id


def overdue_first_page(actor: Actor, *, cursor: str | None, limit: int, **filters) -> dict:
    """One page of the caller's queue, overdue tickets first, each part newest first:
    {"items", "next_cursor"} as queue_page gives them (timestamps as datetimes). The cursor
    is encode_overdue_cursor's (ValueError for another). Same scope and filters as
    work_queue_query; read over the whole scope's condition (the console's page)."""
    scope = work_queue_query(actor, **filters).subquery()
    query = select(*(scope.c[key] for key in _KEYS)).order_by(
        scope.c.is_overdue.desc(), scope.c.created_at.desc(), scope.c.id.desc()
    )
    if cursor:
        overdue, created_at, ticket_id = decode_overdue_cursor(cursor)
        # All three descending: (is_overdue, created_at, id) smaller than the cursor's.
        after = tuple_(scope.c.created_at, scope.c.id) < tuple_(created_at, ticket_id)
        query = query.where(
            or_(scope.c.is_overdue.is_(False), after) if overdue
            else (scope.c.is_overdue.is_(False) & after)
        )
    rows = [tuple(row) for row in db.session.execute(query.limit(limit + 1))]
    rows = [(*row[:2], _plain(row[2]), _plain(row[3]), *row[4:]) for row in rows]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_overdue_cursor(
            bool(last[_KEYS.index("is_overdue")]), last[_CREATED_AT].astimezone(timezone.utc), last[0]
        )
    shown = names_for(rows)
    return {"items": [summary_of(row, shown) for row in rows], "next_cursor": next_cursor}


_KEYS = [c.key for c in SUMMARY_COLUMNS]


def _plain(value):
    return getattr(value, "value", value)


def queue_batches(actor: Actor, columns: list[str], *, batch: int = 2000, **filters):
    """Every ticket of the caller's queue, in the order of its page (overdue first, then
    newest), as tuples of `columns` (keys of Ticket's columns), yielded in lists of at most
    `batch`: the exports. Same scope and filters as work_queue_query; read by one statement
    whose rows arrive as they are used (a server-side cursor on PostgreSQL), so memory does
    not grow with the number of tickets."""
    scope = work_queue_query(actor, **filters).subquery()
    query = select(*(scope.c[key] for key in columns)).order_by(
        scope.c.is_overdue.desc(), scope.c.created_at.desc(), scope.c.id.desc()
    )
    result = db.session.execute(query, execution_options={"yield_per": batch})
    try:
        for rows in result.partitions():
            yield [tuple(_plain(value) for value in row) for row in rows]
    finally:
        result.close()


def status_counts(actor: Actor, **filters) -> dict[str, int]:
    """How many tickets of each status the caller's scope holds, with the other filters
    applied (the status filter is not): {status value: count}."""
    filters.pop("status", None)
    _check_staff(actor)
    conditions = _queue_filters(
        ANY_STATUS, filters.get("overdue"), filters.get("category") or None, filters.get("kind"), paged=False
    )
    conditions += _more_filters(
        filters.get("reporter"), _like(filters.get("q")), filters.get("grid_id"),
        actor.person_id if filters.get("mine") else None,
    )
    rows = db.session.execute(
        select(Ticket.status, func.count())
        .where(access.staff_scope_clause(actor), *conditions)
        .group_by(Ticket.status)
    ).all()
    return {_plain(status): count for status, count in rows}


def scope_grids(actor: Actor) -> list[tuple[int, str]]:
    """The grids a staff member's scope reaches, as (id, "社区 网格") by name: the choices of
    the queue's grid filter (the filter itself never widens the scope)."""
    _check_staff(actor)
    query = select(Grid.id, Community.name, Grid.name).join(Community, Community.id == Grid.community_id)
    if not actor.is_admin:
        communities = actor.community_ids | actor.wish_community_ids
        grids = set(actor.grid_ids) | {grid for grid, _ in actor.matrix}
        query = query.where(or_(
            Grid.id.in_(sorted(grids)),
            Grid.community_id.in_(sorted(communities)),
            Community.street_id.in_(sorted(actor.street_ids)),
        ))
    rows = db.session.execute(query.order_by(Community.name, Grid.name, Grid.id).limit(1000))
    return [(grid_id, f"{community} {grid}") for grid_id, community, grid in rows]


def queue_categories() -> list[tuple[str, str, str]]:
    """The categories the queue can be filtered by: (code, name, kind value), in their order."""
    rows = db.session.execute(
        select(Category.code, Category.name, Category.kind).order_by(Category.sort_order, Category.id)
    )
    return [(code, name, _plain(kind)) for code, name, kind in rows]


def messages_in_scope(actor: Actor, limit: int = 100) -> list[OutboxMessage]:
    """The newest notifications about tickets in the caller's scope (a wish's only to its
    readers: access.staff_scope_clause); a message about no ticket only to an admin."""
    _check_staff(actor)
    about_tickets = select(Ticket.id).where(access.staff_scope_clause(actor))
    condition = OutboxMessage.ticket_id.in_(about_tickets)
    if actor.is_admin:
        condition = or_(condition, OutboxMessage.ticket_id.is_(None))
    return list(db.session.scalars(
        select(OutboxMessage).where(condition).order_by(OutboxMessage.id.desc()).limit(max(1, min(limit, 500)))
    ))
