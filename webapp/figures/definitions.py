"""The figures' definitions: the words the dashboard shows, and the one SQL condition of each
count, side by side.

The conditions read the ticket's columns that the state machine keeps in step with its events
(webapp.tickets.state_machine): accepted_at is the acceptance that stands (set by 接单, cleared
by 退单, 改派, 重新办理 and 离岗退回), resolved_at the resolution that stands (set by 办结反馈,
cleared by 重新办理), reopen_count the number of 重新办理, rating the score of 确认解决 (cleared
by the automatic close), closed_at the time of 确认解决 or 自动办结 (or of 驳回, 合并), and the
deadlines of the current round (set at the first dispatch and at each 重新办理).
tests/figures/test_figures.py rebuilds each of them from the event rows and checks they agree,
then counts every figure from the events alone.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_

from webapp.extensions import db
from webapp.tickets.models import Ticket, TicketStatus

S = TicketStatus

# Shown on the dashboard word for word (issue 13's definitions, in Chinese).
SCOPE_TEXT = (
    "统计范围：一个网格、一个社区、一个街道，管理员可看全部，但不超过查看人自己的管辖范围；"
    "统计期间为北京时间自然日 [开始日期, 结束日期)，统计期内新建的工单，随手拍和心语心愿可分开统计，也可合计。"
)
DEFINITIONS: list[tuple[str, str]] = [
    ("受理量", "统计期内新建的工单数。"),
    (
        "响应率",
        "在接单时限内接单的工单数 ÷ 应接单的工单数（已接单，或接单时限已过）。"
        "被驳回（无效）和被合并的工单，分子分母都不计入。",
    ),
    (
        "按时办结率",
        "在办理时限内办结反馈、且之后未被重新办理的工单数 ÷ 应办结的工单数（已办结反馈，或办理时限已过）。",
    ),
    (
        "满意率",
        "评价为4分或5分的工单数 ÷ 已评价的工单数。未评价的工单（系统自动办结）一律不计为满意；"
        "已评价的工单数显示在满意率旁边。",
    ),
    ("当前超期", "这些工单中，现在仍未接单且已过接单时限、或已接单未办结且已过办理时限的工单数。"),
    ("平均办结时长", "已办结工单从提交到办结（确认解决或自动办结）的平均小时数，中位数同时列出；"
     "并按类别、按下级单位（社区下的网格、街道下的社区）和按周列出。"),
    ("热点", "统计期内工单最多的“楼栋 × 类别”组合，以及反复出现的组合（最近13周中有3周或以上出现）。"),
    ("比率为“—”", "分母为0的比率显示为“—”，不显示为0%或100%。"),
    ("数据来源", "以上数字全部来自工单事件记录（谁在什么时间做了什么），任何一个数字都可以重新计算。"),
]
# How the words are read where they leave room (also on the page, under the definitions).
READING_NOTES: list[str] = [
    "被驳回、被合并的工单也不计入按时办结率和满意率。",
    "接单时间以最后一次有效的接单为准（退单、改派、重新办理后需重新接单）；接单和办理时限以当前这一轮为准（重新办理后重新计时）。",
    "重新办理过的工单不计为按时办结。",
    "未派单（待派单且从未派出）的工单还没有接单时限，不计入应接单。",
    "心语心愿：非心语心愿处理人只看到数量，热点中不列出心语心愿。",
]

# The counts of a group of tickets, by name: each a condition on one ticket.
RATES = {
    "response_rate": ("accepted_on_time", "due_for_acceptance"),
    "on_time_closure_rate": ("resolved_on_time", "due_for_resolution"),
    "satisfaction_rate": ("satisfied", "rated"),
}
OPEN_UNACCEPTED = (S.PENDING, S.DISPATCHED)


def count_conditions(now: datetime) -> dict[str, object]:
    """The SQL condition of each count, for the figures as of `now`."""
    t = Ticket
    counted = t.status.notin_((S.REJECTED, S.MERGED))
    rated = and_(counted, t.status == S.CLOSED, t.rating.isnot(None))
    return {
        "accepted_on_time": and_(
            counted, t.accepted_at.isnot(None), t.accept_due_at.isnot(None), t.accepted_at <= t.accept_due_at
        ),
        "due_for_acceptance": and_(
            counted, or_(t.accepted_at.isnot(None), and_(t.accept_due_at.isnot(None), t.accept_due_at < now))
        ),
        "resolved_on_time": and_(
            counted, t.reopen_count == 0, t.resolved_at.isnot(None), t.resolve_due_at.isnot(None),
            t.resolved_at <= t.resolve_due_at,
        ),
        "due_for_resolution": and_(
            counted,
            or_(
                t.resolved_at.isnot(None), t.reopen_count > 0,
                and_(t.resolve_due_at.isnot(None), t.resolve_due_at < now),
            ),
        ),
        "rated": rated,
        "satisfied": and_(rated, t.rating >= 4),
        "overdue_now": or_(
            and_(t.status.in_(OPEN_UNACCEPTED), t.accept_due_at < now),
            and_(t.status == S.ACCEPTED, t.resolve_due_at < now),
        ),
        "closed": t.status == S.CLOSED,
    }


COUNTS = (
    "accepted_on_time", "due_for_acceptance", "resolved_on_time", "due_for_resolution",
    "rated", "satisfied", "overdue_now", "closed",
)


def rate(numerator: int, denominator: int) -> float | None:
    """A rate from 0 to 1, or None when nothing was due (never 0 % nor 100 %)."""
    return numerator / denominator if denominator else None


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def hours_to_close():
    """SQL: the hours from a ticket's creation to its close (avg_hours_to_close, the median)."""
    if is_postgresql():  # date_part is a double precision, extract a (slower) numeric
        return func.date_part("epoch", Ticket.closed_at - Ticket.created_at) / 3600.0
    return (func.julianday(Ticket.closed_at) - func.julianday(Ticket.created_at)) * 24.0
