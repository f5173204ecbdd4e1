"""The daily rollup: the figures' counts of the settled tickets, summed per day as they settle.

A ticket is settled when it is closed, rejected or merged (statuses no action leaves) and none
of its counts can change any more as time goes on: a closed ticket is due for acceptance
because it was accepted, or because its accept deadline has passed; the same for resolution
(definitions.count_conditions). At that moment (`on_transition`, in the transaction of the
action) its counts are added to its row of figures_daily (Beijing day of creation × grid ×
category × kind) and it is marked rolled_up; the figures then read the rollup for those
tickets and the tickets' own columns for every other one (the live part: ix_tickets_figures_live).
A ticket is never in both: the figures are right whether or not a ticket was rolled up.

`roll_up` does the same for every settled ticket not yet rolled up (tickets written before
migration 0006, or settled only when a deadline passed): `flask figures rollup`, daily.
`recount` compares the rollup with a full recount of the rolled-up tickets from their columns
(the same conditions), and repairs any row that differs.

The median hours to close are not in the rollup: a median is not a sum. compute reads them
from the tickets (see docs/performance.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Date, and_, case, cast, delete, func, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from webapp.columns import utcnow
from webapp.extensions import db
from webapp.figures.definitions import count_conditions, hours_to_close, is_postgresql
from webapp.figures.models import ROLLUP_COUNTS, FiguresDaily
from webapp.reads import among
from webapp.registry.models import TicketKind
from webapp.tickets.models import LIVE_SQL, Ticket, TicketStatus

S = TicketStatus
KEY = ("street_id", "day", "community_id", "grid_id", "category_id", "kind")
BATCH = 5000  # tickets per statement of roll_up
_daily = FiguresDaily.__table__


def settled(now: datetime):
    """SQL: the ticket's counts are final as of `now` and for ever after."""
    t = Ticket
    return or_(
        t.status.in_((S.REJECTED, S.MERGED)),  # counted in nothing but tickets_in
        and_(
            t.status == S.CLOSED,
            or_(t.accepted_at.isnot(None), t.accept_due_at.is_(None), t.accept_due_at < now),
            or_(
                t.resolved_at.isnot(None), t.reopen_count > 0, t.resolve_due_at.is_(None),
                t.resolve_due_at < now,
            ),
        ),
    )


def not_rolled_up():
    """SQL: the live part's condition, written as ix_tickets_figures_live states it."""
    return text(f"tickets.{LIVE_SQL}")


def beijing_day():
    """SQL: the Beijing date of the ticket's creation (UTC+8 all year)."""
    if is_postgresql():
        return cast(func.timezone("Asia/Shanghai", Ticket.created_at), Date)
    return func.date(Ticket.created_at, "+8 hours")


def _sums(now: datetime, *where):
    """SELECT the rollup rows of the tickets matching `where`, as of `now`."""
    conditions = count_conditions(now)
    keys = [
        Ticket.street_id, beijing_day().label("day"), Ticket.community_id, Ticket.grid_id,
        Ticket.category_id, Ticket.kind,
    ]
    return (
        select(
            *keys,
            func.count().label("tickets_in"),
            *[func.sum(case((conditions[name], 1), else_=0)).label(name) for name in ROLLUP_COUNTS[1:]],
            func.sum(case((conditions["closed"], hours_to_close()), else_=0.0)).label("hours_to_close"),
        )
        .where(*where)
        .group_by(*keys)
    )


def _add(rows_select, params: dict) -> None:
    """Add the selected rows to figures_daily (an upsert: one row per key)."""
    insert = postgresql.insert if is_postgresql() else sqlite.insert
    statement = insert(_daily).from_select([*KEY, *ROLLUP_COUNTS, "hours_to_close"], rows_select)
    added = statement.excluded
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=list(KEY),
            set_={name: _daily.c[name] + added[name] for name in (*ROLLUP_COUNTS, "hours_to_close")},
        ),
        params,
    )


def _roll(ids: list[str], now: datetime) -> list[str]:
    """Mark those of `ids` that are settled and not rolled up, then add their counts: the
    UPDATE first, so that two processes never add one ticket twice (its row lock). The ids are
    one array parameter on PostgreSQL (reads.among): a batch of any size."""
    dialect = db.session.get_bind().dialect.name
    marked = db.session.execute(
        Ticket.__table__.update()
        .where(among(Ticket.id, dialect), not_rolled_up(), settled(now))
        .values(rolled_up=True, updated_at=Ticket.updated_at)  # not a change anyone made
        .returning(Ticket.id),
        {"ids": list(ids)},
    ).scalars().all()
    if marked:
        _add(_sums(now, among(Ticket.id, dialect)), {"ids": list(marked)})
    return marked


def on_transition(ticket: Ticket, now: datetime) -> None:
    """After an action (flushed): roll the ticket up if the action settled it."""
    if ticket.status not in (S.CLOSED, S.REJECTED, S.MERGED):
        return
    if _roll([ticket.id], now):
        db.session.expire(ticket, ["rolled_up"])


def roll_up(now: datetime | None = None, *, batch: int = BATCH) -> int:
    """Roll up every settled ticket not yet rolled up, `batch` per statement, committing each;
    the number rolled up."""
    now = now or utcnow()
    total = 0
    while True:
        ids = db.session.scalars(
            select(Ticket.id).where(not_rolled_up(), settled(now)).order_by(Ticket.id).limit(batch)
        ).all()
        if not ids:
            return total
        total += len(_roll(ids, now))
        db.session.commit()


@dataclass
class Recount:
    rows: int = 0  # rows of the rollup compared
    differing: list[tuple] = field(default_factory=list)  # the keys whose row differs
    repaired: bool = False


def recount(*, since: date | None = None, repair: bool = False) -> Recount:
    """Recount the rolled-up tickets (created on or after the Beijing day `since`, or all)
    from their columns and compare with figures_daily; with `repair`, rewrite what differs."""
    where = [Ticket.rolled_up.is_(True)]
    if since is not None:
        where.append(beijing_day() >= since)
    counted = {_key(row): _values(row) for row in db.session.execute(_sums(utcnow(), *where))}
    stored_query = select(_daily)
    if since is not None:
        stored_query = stored_query.where(_daily.c.day >= since)
    stored = {_key(row): _values(row) for row in db.session.execute(stored_query)}
    report = Recount(rows=len(stored))
    for key in sorted(counted.keys() | stored.keys(), key=repr):
        if not _same(counted.get(key), stored.get(key)):
            report.differing.append(key)
    if repair and report.differing:
        keys = [tuple(k) for k in report.differing]
        db.session.execute(delete(_daily).where(tuple_(*[_daily.c[k] for k in KEY]).in_(keys)))
        for key in keys:
            if key in counted:
                place = dict(zip(KEY, key), kind=TicketKind(key[-1]))
                db.session.execute(_daily.insert().values(**place, **counted[key]))
        db.session.commit()
        report.repaired = True
    return report


def _key(row) -> tuple:
    m = row._mapping
    day = m["day"]
    if isinstance(day, str):  # SQLite's date() of a row not read through the column's type
        day = date.fromisoformat(day)
    kind = m["kind"]
    return (m["street_id"], day, m["community_id"], m["grid_id"], m["category_id"], getattr(kind, "value", kind))


def _values(row) -> dict:
    m = row._mapping
    values = {name: int(m[name] or 0) for name in ROLLUP_COUNTS}
    values["hours_to_close"] = float(m["hours_to_close"] or 0.0)
    return values


def _same(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(a[n] == b[n] for n in ROLLUP_COUNTS) and abs(a["hours_to_close"] - b["hours_to_close"]) < 1e-6 * max(
        1.0, abs(a["hours_to_close"])
    )
