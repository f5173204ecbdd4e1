"""The figures of a scope and period: one aggregate statement over the tickets, a few small ones.

- the counts: one statement grouped by (category, child, week), summed here into the total,
  by_category, by_child and weekly (every count is additive);
- the median hours to close: PostgreSQL's percentile_cont over GROUPING SETS; on SQLite (the
  demo) the hours are read and the medians taken here;
- the hotspots: one statement grouped by (building, category) over the period and the last
  13 weeks, then the latest ticket of each pair listed.
A street's are read by ix_tickets_figures_street (street_id, created_at, covering the columns
read on PostgreSQL); a community's and a grid's by their own (community_id or grid_id, status,
created_at) indexes. bench/bench_figures.py measures them (docs/performance.md).
"""
from __future__ import annotations

import os
import statistics
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Column, Integer, case, cast, func, literal, or_, select, text, tuple_, union_all
from sqlalchemy.dialects.postgresql import ARRAY, BIT
from sqlalchemy.sql.visitors import replacement_traverse

from webapp.columns import UTCDateTime, utcnow
from webapp.extensions import db
from webapp.figures import rollup
from webapp.figures.definitions import COUNTS, RATES, count_conditions, hours_to_close, is_postgresql, rate
from webapp.figures.models import ROLLUP_COUNTS, FiguresDaily
from webapp.figures.period import RECUR_MIN_WEEKS, RECUR_WEEKS, Period, beijing_midnight
from webapp.figures.scope import FigureScope, Place
from webapp.people.actors import Actor
from webapp.registry.models import Building, Category, Community, Grid, TicketKind
from webapp.tickets import wishes
from webapp.tickets.models import Ticket

HOTSPOTS = 20  # the top pairs by count, and as many recurring pairs besides
WORK_MEM = "64MB"  # per statement of the figures, PostgreSQL (see _planner_settings)
RANDOM_PAGE_COST = 1.1
_PLANNER_SETTINGS = (f"SET LOCAL work_mem = '{WORK_MEM}'", f"SET LOCAL random_page_cost = {RANDOM_PAGE_COST}")
ASIDE_THREADS = 4  # per process: statements of figures requests that may run at once (one request's four)


@dataclass
class Group:
    """The counts of one group of tickets and the hours to close of its closed ones."""

    tickets_in: int = 0
    hours_sum: float = 0.0
    median: float | None = None

    def __post_init__(self) -> None:
        self.counts = dict.fromkeys(COUNTS, 0)

    def add(self, tickets: int, counts: dict[str, int], hours: float) -> None:
        self.tickets_in += tickets
        for name in COUNTS:
            self.counts[name] += counts[name]
        self.hours_sum += hours

    def as_dict(self) -> dict:
        c = self.counts
        out = {"tickets_in": self.tickets_in}
        for name, (numerator, denominator) in RATES.items():
            out[numerator] = c[numerator]
            out[denominator] = c[denominator]
            out[name] = rate(c[numerator], c[denominator])
        out["overdue_now"] = c["overdue_now"]
        out["closed"] = c["closed"]
        out["avg_hours_to_close"] = round(self.hours_sum / c["closed"], 2) if c["closed"] else None
        out["median_hours_to_close"] = None if self.median is None else round(self.median, 2)
        return out


def figures(
    actor: Actor, scope: FigureScope, period: Period, *, kind: str | None = None,
    now: datetime | None = None,
) -> dict:
    """Every figure of `scope` over the tickets created in `period` (reports, wishes or both),
    as of `now`. The scope comes from scope.resolve_scope for the same actor."""
    now = now or utcnow()
    with _planner_settings():
        return _figures(actor, scope, period, kind, now)


@contextmanager
def _planner_settings():
    """On PostgreSQL, for the figures' statements only: memory to hash the groups and sort the
    hours to close in memory, and the cost of a random page read as on an SSD (1.1, not the
    default 4 of spinning disks): the statements read covering indexes, and with the default
    the planner prefers reading a whole table to an index-only scan of a fifth of it (the
    tickets not rolled up). Undone afterwards."""
    if not is_postgresql():
        yield
        return
    for setting in _PLANNER_SETTINGS:
        db.session.execute(text(setting))
    try:
        yield
    finally:
        db.session.execute(text("RESET work_mem"))
        db.session.execute(text("RESET random_page_cost"))


def _hashed(statement):
    """Run the counts' statement grouping by hashing on PostgreSQL: the planner cannot
    estimate how many weeks a period has, guesses a group per row and would sort a street's
    500,000 rows to make a thousand groups."""
    if not is_postgresql():
        return db.session.execute(statement).all()
    db.session.execute(text("SET LOCAL enable_sort = off"))
    try:
        return db.session.execute(statement).all()
    finally:
        db.session.execute(text("RESET enable_sort"))


def _figures(actor: Actor, scope: FigureScope, period: Period, kind: str | None, now: datetime) -> dict:
    start, end = period.bounds
    base = [*_scope_conditions(scope, kind), Ticket.created_at >= start, Ticket.created_at < end]
    week = _week_index(beijing_midnight(period.first_monday), len(period.week_starts()))
    child = scope.child_key
    conditions = count_conditions(now)
    hours = hours_to_close()
    live = (
        select(
            Ticket.category_id.label("category_id"),
            (child if child is not None else literal(None)).label("child"),
            week.label("week"),
            func.count().label("tickets_in"),
            *[func.sum(case((conditions[name], 1), else_=0)).label(name) for name in COUNTS],
            func.sum(case((conditions["closed"], hours), else_=0.0)).label("hours"),
        )
        .where(*base, rollup.not_rolled_up())
        .group_by("category_id", "child", "week")
    )
    apply_medians = _medians(base + [conditions["closed"]], child, week, hours)  # under way on PostgreSQL
    list_hotspots = _hotspots(actor, scope, period, kind)  # likewise
    pending_live = _aside(db.engine, live, hashed=True) if is_postgresql() else None  # likewise
    total, by_category, by_child, by_week = Group(), {}, {}, {}

    def add(row, week_index: int) -> None:
        counts = {name: int(getattr(row, name, 0) or 0) for name in COUNTS}
        values = (row.tickets_in, counts, float(row.hours or 0))
        total.add(*values)
        by_category.setdefault(row.category_id, Group()).add(*values)
        if row.child is not None:
            by_child.setdefault(row.child, Group()).add(*values)
        by_week.setdefault(week_index, Group()).add(*values)

    for row in _hashed(_rolled_up(scope, kind, period)):  # the settled tickets: overdue_now is 0
        add(row, (_as_date(row.day) - period.first_monday).days // 7)
    for row in pending_live.result() if pending_live is not None else _hashed(live):
        add(row, int(row.week))
    apply_medians(total, by_category, by_child, by_week)
    weeks = period.week_starts()
    return {
        "scope": _place_dict(scope.place),
        "path": [_place_dict(p) for p in scope.path],
        "period": {"from": period.start, "to": period.end},
        "kind": kind,
        "as_of": now,
        **total.as_dict(),
        "by_category": _category_rows(by_category),
        "by_child": _child_rows(scope, by_child),
        "weekly": [
            {"week_start": monday, **by_week.get(index, Group()).as_dict()}
            for index, monday in enumerate(weeks)
        ],
        "hotspots": list_hotspots(),
    }


def _rolled_up(scope: FigureScope, kind: str | None, period: Period):
    """The rollup's sums of the settled tickets of the scope (and kind) created in the period,
    per category, child and day: the scope's condition, read on figures_daily's columns."""
    daily = FiguresDaily.__table__
    conditions = [_on_daily(c) for c in _scope_conditions(scope, kind)]
    child = _on_daily(scope.child_key) if scope.child_key is not None else literal(None)
    return (
        select(
            daily.c.category_id, child.label("child"), daily.c.day,
            *[func.sum(daily.c[name]).label(name) for name in ROLLUP_COUNTS],
            func.sum(daily.c.hours_to_close).label("hours"),
        )
        .where(*conditions, daily.c.day >= period.start, daily.c.day < period.end)
        .group_by("category_id", "child", daily.c.day)
    )


def _on_daily(clause):
    """A condition on the tickets' place, category and kind columns, on figures_daily's."""
    daily, tickets = FiguresDaily.__table__, Ticket.__table__

    def swap(element):
        if not isinstance(element, Column) or element.key not in tickets.c:
            return None
        if element.shares_lineage(tickets.c[element.key]):  # the column or its ORM annotation
            if element.key not in daily.c:
                raise ValueError(f"figures_daily has no column {element.key}: a scope reads only place, category and kind")
            return daily.c[element.key]
        return None

    if hasattr(clause, "__clause_element__"):  # an ORM attribute (Ticket.community_id)
        clause = clause.__clause_element__()
    return replacement_traverse(clause, {}, swap)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _scope_conditions(scope: FigureScope, kind: str | None) -> list:
    """The tickets of the scope (and kind), whenever created."""
    conditions = [scope.condition]
    if scope.street_ids is not None:  # the index's first column, also for a community or grid
        conditions.insert(0, Ticket.street_id.in_(scope.street_ids) if len(scope.street_ids) > 1
                          else Ticket.street_id == scope.street_ids[0])
    if kind is not None:
        conditions.append(Ticket.kind == TicketKind(kind))
    return conditions


def _week_index(week0: datetime, weeks: int):
    """The week of a ticket's creation, counted from the Beijing Monday `week0` (UTC), for a
    ticket created in the `weeks` weeks from it."""
    if is_postgresql():  # a binary search over the weeks' bounds (no numeric arithmetic)
        bounds = [week0 + timedelta(weeks=i) for i in range(1, weeks)]
        if not bounds:
            return literal(0)
        return func.width_bucket(Ticket.created_at, literal(bounds, ARRAY(UTCDateTime())))
    days = func.julianday(Ticket.created_at) - func.julianday(literal(week0, UTCDateTime()))
    return cast(days / 7, Integer)  # never negative here: truncation is the floor


def _medians(conditions, child, week, hours):
    """Start computing the median hours to close of every group that has closed tickets; the
    function returned writes them into the groups (waiting for them if need be).

    On PostgreSQL the medians (sorts of every closed ticket's hours, the figures' dearest
    statement) run on a connection of their own in a thread, while the request's session
    reads the counts and the hotspots: two cores at work instead of one. Both read committed
    data as of the same moment, give or take the statements' start (figures are "as of now")."""
    keys = {"category": Ticket.category_id, "week": week}
    if child is not None:
        keys["child"] = child
    closed = select(*[k.label(name) for name, k in keys.items()], hours.label("h")).where(*conditions).subquery()
    if is_postgresql():
        # One statement; grouping() has a bit per key left out of the row's set (first key highest).
        # Two statements (the total and the categories; the weeks and the children), each on
        # a connection of its own: the sorts of one run beside the other's. grouping() has a
        # bit per key of the statement left out of the row's set (first key highest).
        names = list(keys)
        parts = [(names[:1], True), (names[1:], False)]
        pending = []
        for part, with_total in parts:
            columns = [closed.c[name] for name in part]
            sets = ([tuple_()] if with_total else []) + [tuple_(c) for c in columns]
            statement = select(
                func.grouping(*columns).label("sets"), *columns,
                func.percentile_cont(0.5).within_group(closed.c.h).label("m"),
            ).group_by(func.grouping_sets(*sets))
            pending.append((part, _aside(db.engine, statement)))

        def apply_postgresql(total, by_category, by_child, by_week) -> None:
            groups = {"category": by_category, "child": by_child, "week": by_week}
            for part, future in pending:
                everything = (1 << len(part)) - 1
                for row in future.result():
                    row = row._mapping
                    if row["m"] is None:  # the empty set's row: nothing closed
                        continue
                    if row["sets"] == everything:
                        total.median = float(row["m"])
                        continue
                    for position, name in enumerate(part):
                        if row["sets"] == everything & ~(1 << (len(part) - 1 - position)):
                            key = row[name] if name != "week" else int(row[name])
                            if key in groups[name]:
                                groups[name][key].median = float(row["m"])

        return apply_postgresql

    def apply(total, by_category, by_child, by_week) -> None:
        groups = {"category": by_category, "child": by_child, "week": by_week}
        values: dict[tuple, list[float]] = {}
        for row in db.session.execute(select(closed)):
            row = row._mapping
            values.setdefault(("total", None), []).append(float(row["h"]))
            for name in keys:
                key = row[name] if name != "week" else int(row[name])
                values.setdefault((name, key), []).append(float(row["h"]))
        for (name, key), hours_values in values.items():
            if name == "total":
                total.median = statistics.median(hours_values)
            elif key in groups[name]:
                groups[name][key].median = statistics.median(hours_values)

    return apply


_executor: tuple[int, ThreadPoolExecutor] | None = None


def _aside(engine, statement, *, hashed: bool = False) -> Future:
    """Run `statement` on a pooled connection of its own, in this process's thread pool (made
    after a fork, never inherited), with the figures' planner settings (and grouping by
    hashing, as _hashed, if `hashed`)."""
    global _executor
    if _executor is None or _executor[0] != os.getpid():
        _executor = (os.getpid(), ThreadPoolExecutor(max_workers=ASIDE_THREADS, thread_name_prefix="figures"))

    def run():
        with engine.connect() as connection, connection.begin():
            for setting in _PLANNER_SETTINGS + (("SET LOCAL enable_sort = off",) if hashed else ()):
                connection.execute(text(setting))
            return connection.execute(statement).all()

    return _executor[1].submit(run)


def _place_dict(place: Place) -> dict:
    return {"level": place.level, "id": place.id, "name": place.name}


def _category_rows(groups: dict[int, Group]) -> list[dict]:
    if not groups:
        return []
    rows = db.session.execute(
        select(Category.id, Category.code, Category.name, Category.kind)
        .where(Category.id.in_(list(groups)))
        .order_by(Category.sort_order, Category.id)
    ).all()
    return [
        {"id": r.id, "code": r.code, "name": r.name, "kind": r.kind.value, **groups[r.id].as_dict()}
        for r in rows
    ]


def _child_rows(scope: FigureScope, groups: dict) -> list[dict]:
    rows = []
    for index, child in enumerate(scope.children):
        key = index if scope.place.level == "mine" else child.id
        rows.append({**_place_dict(child), **groups.get(key, Group()).as_dict()})
    return rows


def _hotspots(actor: Actor, scope: FigureScope, period: Period, kind: str | None):
    """Start finding the building × category pairs; the function returned lists them. On
    PostgreSQL the pairs' statement (a pass over the 13 weeks) runs aside, as the medians do.

    Building × category pairs: the HOTSPOTS with the most tickets created in the period, and
    the HOTSPOTS recurring most (tickets in RECUR_MIN_WEEKS or more distinct weeks of the last
    RECUR_WEEKS, the week of the period's last day included), each with its count in the
    period, its weeks and its latest ticket. A wish is listed only to its readers (a building
    and a wish category can point at a person): other viewers get reports only."""
    start, end = period.bounds
    recur0 = beijing_midnight(period.recur_start)
    first = min(start, recur0)
    conditions = [*_scope_conditions(scope, kind), Ticket.created_at >= first, Ticket.created_at < end]
    conditions.append(or_(Ticket.kind == TicketKind.REPORT, wishes.reader_clause(actor)))
    week = _week_index(recur0, RECUR_WEEKS)
    in_recur = Ticket.created_at >= recur0
    if is_postgresql():  # a bit per week, counted after: hashable, where count(DISTINCT) sorts
        weeks = func.bit_count(cast(func.bit_or(case((in_recur, literal(1).op("<<")(week)), else_=0)), BIT(32)))
    else:
        weeks = func.count(case((in_recur, week), else_=None).distinct())
    pairs = (
        select(
            Ticket.building_id.label("building_id"),
            Ticket.category_id.label("category_id"),
            func.sum(case((Ticket.created_at >= start, 1), else_=0)).label("count"),
            weeks.label("weeks"),
        )
        .where(*conditions)
        .group_by(Ticket.building_id, Ticket.category_id)
        .cte("pairs")
    )
    top = (
        select(pairs).where(pairs.c["count"] > 0)
        .order_by(pairs.c["count"].desc(), pairs.c.weeks.desc(), pairs.c.building_id, pairs.c.category_id)
        .limit(HOTSPOTS)
    )
    recurring = (
        select(pairs).where(pairs.c.weeks >= RECUR_MIN_WEEKS)
        .order_by(pairs.c.weeks.desc(), pairs.c["count"].desc(), pairs.c.building_id, pairs.c.category_id)
        .limit(HOTSPOTS)
    )
    both = union_all(select(top.subquery()), select(recurring.subquery()))
    pending = _aside(db.engine, both) if is_postgresql() else None

    def listed() -> list[dict]:
        found: dict[tuple[int, int], dict] = {}
        for row in pending.result() if pending is not None else db.session.execute(both):
            found[(row.building_id, row.category_id)] = {
                "count": int(row.count), "weeks": int(row.weeks), "recurring": int(row.weeks) >= RECUR_MIN_WEEKS,
            }
        if not found:
            return []
        latest = _latest_tickets(conditions, list(found))
        names = _pair_names(list(found))
        out = []
        for (building_id, category_id), values in found.items():
            building, category = names[0][building_id], names[1][category_id]
            out.append({
                "building": building, "category": category, **values,
                "latest_ticket_id": latest.get((building_id, category_id)),
            })
        out.sort(key=lambda h: (-h["count"], -h["weeks"], h["building"]["id"], h["category"]["id"]))
        return out

    return listed


def _latest_tickets(conditions: list, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The newest ticket of each pair among those the hotspots counted (the pairs' buildings
    read by ix_tickets_building_status, not the whole street)."""
    ranked = (
        select(
            Ticket.id, Ticket.building_id, Ticket.category_id,
            func.row_number().over(
                partition_by=(Ticket.building_id, Ticket.category_id),
                order_by=(Ticket.created_at.desc(), Ticket.id.desc()),
            ).label("n"),
        )
        .where(
            *conditions, Ticket.building_id.in_(sorted({b for b, _ in pairs})),
            tuple_(Ticket.building_id, Ticket.category_id).in_(pairs),
        )
        .subquery()
    )
    rows = db.session.execute(select(ranked.c.id, ranked.c.building_id, ranked.c.category_id).where(ranked.c.n == 1))
    return {(r.building_id, r.category_id): r.id for r in rows}


def _pair_names(pairs: list[tuple[int, int]]) -> tuple[dict, dict]:
    buildings = {
        r.id: {"id": r.id, "name": r.name, "grid_id": r.grid_id, "grid": r.grid, "community": r.community}
        for r in db.session.execute(
            select(Building.id, Building.name, Building.grid_id, Grid.name.label("grid"), Community.name.label("community"))
            .join(Grid, Grid.id == Building.grid_id)
            .join(Community, Community.id == Grid.community_id)
            .where(Building.id.in_({b for b, _ in pairs}))
        )
    }
    categories = {
        r.id: {"id": r.id, "code": r.code, "name": r.name}
        for r in db.session.execute(
            select(Category.id, Category.code, Category.name).where(Category.id.in_({c for _, c in pairs}))
        )
    }
    return buildings, categories
