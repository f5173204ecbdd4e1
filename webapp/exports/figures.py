"""The dashboard's tables and a street's monthly report as sheets with Chinese headers.

The numbers are webapp.figures.compute's, for a scope from webapp.figures.scope.resolve_scope
(never more than the viewer's): the same figures the dashboard and GET /api/v1/work/stats
show, rates as the dashboard writes them ("—" when nothing was due), each beside its counts.
"""
from __future__ import annotations

from datetime import date

from webapp.exports.writers import Sheet
from webapp.figures import compute
from webapp.figures.period import BEIJING, Period
from webapp.figures.scope import LEVEL_LABELS, resolve_scope
from webapp.people.actors import Actor

KIND_NAMES = {None: "全部", "report": "随手拍", "wish": "心语心愿"}
# The columns of a row of figures: (header, key, how it is shown).
FIGURE_COLUMNS = [
    ("受理量", "tickets_in", None),
    ("响应率", "response_rate", "rate"),
    ("按时接单数", "accepted_on_time", None),
    ("应接单数", "due_for_acceptance", None),
    ("按时办结率", "on_time_closure_rate", "rate"),
    ("按时办结数", "resolved_on_time", None),
    ("应办结数", "due_for_resolution", None),
    ("满意率", "satisfaction_rate", "rate"),
    ("满意数", "satisfied", None),
    ("已评价数", "rated", None),
    ("当前超期", "overdue_now", None),
    ("已办结", "closed", None),
    ("平均办结时长（小时）", "avg_hours_to_close", "hours"),
    ("办结时长中位数（小时）", "median_hours_to_close", "hours"),
]
HOTSPOT_HEADERS = ["社区", "网格", "楼栋", "类别", "期内工单", "近13周出现周数", "是否反复出现"]
_WIDTHS = [18] + [12] * len(FIGURE_COLUMNS)


def percent(value) -> str:
    """A rate as the dashboard shows it: "—" when its denominator is 0."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _shown(value, how):
    if how == "rate":
        return percent(value)
    if how == "hours":
        return "—" if value is None else round(value, 2)
    return value


def figure_cells(row: dict) -> tuple:
    return tuple(_shown(row[key], how) for _, key, how in FIGURE_COLUMNS)


def _table(first: str, rows: list[tuple]) -> tuple[list[str], list[tuple]]:
    return [first] + [header for header, _, _ in FIGURE_COLUMNS], rows


def summary_rows(figures: dict) -> list[tuple]:
    """The totals as (指标, 数值) rows, with the scope, the period and the kind first."""
    period = figures["period"]
    rows = [
        ("范围", f"{LEVEL_LABELS.get(figures['scope']['level'], '')} {figures['scope']['name']}"),
        ("统计期间", f"{period['from'].isoformat()} 至 {period['to'].isoformat()}（不含）"),
        ("类型", KIND_NAMES.get(figures["kind"], "全部")),
        ("截至", figures["as_of"].astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")),
    ]
    rows += [(header, _shown(figures[key], how)) for header, key, how in FIGURE_COLUMNS]
    return rows


def dashboard_sheets(figures: dict) -> list[Sheet]:
    """The dashboard's tables: totals, by category, by child unit, weekly, hotspots."""
    child_headers, children = _table("单位", [(r["name"], *figure_cells(r)) for r in figures["by_child"]])
    category_headers, categories = _table("类别", [(r["name"], *figure_cells(r)) for r in figures["by_category"]])
    week_headers, weeks = _table("周（周一）", [(w["week_start"].isoformat(), *figure_cells(w)) for w in figures["weekly"]])
    return [
        Sheet("汇总", ["指标", "数值"], [summary_rows(figures)], [24, 36]),
        Sheet("按类别", category_headers, [categories], _WIDTHS),
        Sheet("按下级单位", child_headers, [children], _WIDTHS),
        Sheet("按周", week_headers, [weeks], _WIDTHS),
        Sheet("热点", HOTSPOT_HEADERS, [hotspot_rows(figures["hotspots"])], [14, 14, 14, 14, 10, 14, 12]),
    ]


def hotspot_rows(hotspots: list[dict]) -> list[tuple]:
    return [
        (h["building"]["community"], h["building"]["grid"], h["building"]["name"], h["category"]["name"],
         h["count"], h["weeks"], "是" if h["recurring"] else "否")
        for h in hotspots
    ]


def month_period(month: str) -> Period:
    """The Beijing month "YYYY-MM" as a period; ValueError for another text."""
    if len(month) != 7 or month[4] != "-":
        raise ValueError(month)
    first = date(int(month[:4]), int(month[5:]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return Period(first, following)


def monthly_report_sheets(actor: Actor, street_id: int, period: Period) -> list[Sheet]:
    """A street's month: a summary sheet (the street's totals, its communities, its
    categories), then a sheet per community (its totals, its grids, its categories, its
    hotspots). The caller checks that the actor may report for the street."""
    street = compute.figures(actor, resolve_scope(actor, street_id=street_id), period)
    sheets = [Sheet(f"{street['scope']['name']}汇总", None, [_blocks(street, "社区")], _WIDTHS)]
    for community in street["by_child"]:
        figures = compute.figures(actor, resolve_scope(actor, community_id=community["id"]), period)
        sheets.append(Sheet(community["name"], None, [_blocks(figures, "网格", hotspots=True)], _WIDTHS))
    return sheets


def _blocks(figures: dict, child: str, *, hotspots: bool = False) -> list[tuple]:
    """One sheet of blocks: a title row, a header row and rows each, a blank row between."""
    rows: list[tuple] = [("月度报表", f"{figures['scope']['name']}"), *summary_rows(figures), ()]
    headers, children = _table(child, [(r["name"], *figure_cells(r)) for r in figures["by_child"]])
    rows += [(f"按{child}",), tuple(headers), *children, ()]
    headers, categories = _table("类别", [(r["name"], *figure_cells(r)) for r in figures["by_category"]])
    rows += [("按类别",), tuple(headers), *categories]
    if hotspots:
        rows += [(), ("热点（楼栋 × 类别）",), tuple(HOTSPOT_HEADERS), *hotspot_rows(figures["hotspots"])]
    return rows
