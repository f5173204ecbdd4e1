"""The filtered queue as rows with Chinese headers: what a staff member may see, no more.

The rows are webapp.tickets.queue's (queue_batches: work_queue_query's scope and filters, in
the order of the console's page), so an export never shows a ticket its viewer's queue would
not: a wish only to its readers. A row names no reporter and no phone number, only the kind
of reporter (居民, 骑手, 匿名); times are Beijing time.
"""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import func, select

from webapp.exports.writers import Sheet
from webapp.extensions import db
from webapp.figures.period import BEIJING
from webapp.people.actors import Actor
from webapp.registry.models import TicketKind
from webapp.tickets import names
from webapp.tickets.ladder import LEVEL_LABELS
from webapp.tickets.models import STATUS_LABELS
from webapp.tickets.queue import queue_batches, work_queue_query

BATCH = 2000
KIND_NAMES = {TicketKind.REPORT.value: "随手拍", TicketKind.WISH.value: "心语心愿"}
_STATUS_NAMES = {status.value: label for status, label in STATUS_LABELS.items()}

# (header, width) in the order of a row.
COLUMNS = [
    ("工单编号", 20), ("类型", 10), ("类别", 14), ("状态", 10), ("社区", 14), ("网格", 14), ("楼栋", 14),
    ("单元", 8), ("描述", 48), ("反映人类型", 10), ("处理人", 16), ("督办层级", 10), ("提交时间", 17),
    ("受理时限", 17), ("接单时间", 17), ("办结时限", 17), ("办结反馈时间", 17), ("关闭时间", 17),
    ("是否超期", 8), ("评价", 6), ("附议人数", 8),
]
HEADERS = [header for header, _ in COLUMNS]
# The ticket columns read, in the order _row reads them.
_READ = [
    "number", "kind", "category_id", "status", "building_id", "unit_id", "description",
    "is_rider_report", "is_anonymous", "assignee_id", "level", "created_at", "accept_due_at",
    "accepted_at", "resolve_due_at", "resolved_at", "closed_at", "is_overdue", "rating", "me_too_count",
]


def queue_count(actor: Actor, **filters) -> int:
    """How many tickets the export of the caller's queue with these filters holds."""
    scope = work_queue_query(actor, **filters).subquery()
    return db.session.scalar(select(func.count()).select_from(scope))


def queue_sheet(actor: Actor, *, batch: int = BATCH, **filters) -> Sheet:
    """The caller's queue with these filters (the console's: status, category, grid_id,
    overdue, kind, reporter, q, mine) as one sheet; ValueError for a filter value the queue
    refuses. Rows are read as the sheet is written."""
    batches = queue_batches(actor, _READ, batch=batch, **filters)
    return Sheet("工单", HEADERS, _rows(batches), [width for _, width in COLUMNS])


def _rows(batches) -> Iterator[list[tuple]]:
    for rows in batches:
        shown = {
            "categories": names.categories.get(row[2] for row in rows),
            "buildings": names.buildings.get(row[4] for row in rows),
            "units": names.units.get(row[5] for row in rows),
            "assignees": names.assignees.get(row[9] for row in rows),
        }
        yield [_row(row, shown) for row in rows]


def _row(row: tuple, shown: dict) -> tuple:
    (
        number, kind, category_id, status, building_id, unit_id, description, is_rider, is_anonymous,
        assignee_id, level, created_at, accept_due_at, accepted_at, resolve_due_at, resolved_at,
        closed_at, is_overdue, rating, me_too_count,
    ) = row
    building = shown["buildings"][building_id]
    assignee = shown["assignees"].get(assignee_id) if assignee_id else None
    return (
        number,
        KIND_NAMES.get(kind, kind),
        shown["categories"][category_id][1],
        _STATUS_NAMES.get(status, status),
        building["community"],
        building["grid"],
        building["name"],
        shown["units"].get(unit_id, "") if unit_id else "",
        description,
        reporter_kind(is_rider=is_rider, is_anonymous=is_anonymous),
        f"{assignee['name']}（{assignee['role']}）" if assignee else "待派单",
        LEVEL_LABELS.get(level, level),
        beijing_time(created_at),
        beijing_time(accept_due_at),
        beijing_time(accepted_at),
        beijing_time(resolve_due_at),
        beijing_time(resolved_at),
        beijing_time(closed_at),
        "是" if is_overdue else "否",
        rating,
        me_too_count,
    )


def reporter_kind(*, is_rider: bool, is_anonymous: bool) -> str:
    """Who reported, as a kind only: an export names no reporter."""
    if is_anonymous:
        return "匿名"
    return "骑手" if is_rider else "居民"


def beijing_time(value) -> str:
    """A UTC time as Beijing time to the minute ("" for none)."""
    return "" if value is None else value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
