"""The dashboard (/console/dashboard): the figures of the viewer's scope over a period, as
GET /api/v1/work/stats gives them (webapp.figures), with the definitions on the page, the
weekly trend and the categories as charts (Apache ECharts, vendored under static/vendor), the
hotspots linked to their tickets, and links down the tree (street → communities → grids)."""
from __future__ import annotations

import json

from flask import abort, render_template, request, url_for

from webapp.columns import utcnow
from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import Forbidden, NotFound
from webapp.figures import compute
from webapp.figures.definitions import DEFINITIONS, READING_NOTES, SCOPE_TEXT
from webapp.figures.period import BEIJING, PeriodError, parse_day, period_from
from webapp.figures.scope import LEVEL_LABELS, resolve_scope
from webapp.people.actors import Actor

KINDS = {"": "全部", "report": "随手拍", "wish": "心语心愿"}
PLACE_PARAMS = {"street": "street_id", "community": "community_id", "grid": "grid_id"}


@bp.get("/dashboard")
@staff_required
def dashboard(actor: Actor):
    """The figures of a place of the viewer's scope (their own by default) over a period of
    Beijing days (this month so far by default). 400 for a malformed period or kind, 404 for
    a place outside their scope, 403 for staff with no place to count."""
    kind, place, period, scope, error = dashboard_arguments(actor)
    figures = compute.figures(actor, scope, period, kind=kind or None)
    keep = {"from": period.start.isoformat(), "to": period.end.isoformat(), "kind": kind}
    return render_template(
        "console/dashboard.html",
        figures=figures, error=error, kinds=KINDS, kind=kind, keep=keep, place=place,
        definitions=DEFINITIONS, reading_notes=READING_NOTES, scope_text=SCOPE_TEXT,
        level_labels=LEVEL_LABELS, place_url=lambda p: _place_url(p, keep),
        own_url=_place_url({"level": "mine"}, keep),
        charts=json.dumps(_charts(figures), ensure_ascii=False),
        percent=_percent, hours=_hours,
        as_of_text=figures["as_of"].astimezone(BEIJING).strftime("%Y年%m月%d日 %H:%M"),
    ), (400 if error else 200)


def dashboard_arguments(actor: Actor, *, strict: bool = False):
    """The kind, place, period and scope a dashboard request asks for (the page and its
    exports read them alike): (kind, place, period, scope, period_error). Aborts 400 for a
    malformed kind or place, 404 for a place outside the viewer's scope, 403 for staff with no
    place to count. A malformed period: the page shows this month with the error (its message
    is returned); strict (an export) aborts 400."""
    kind = request.args.get("kind") or ""
    place = {param: request.args.get(param, "") for param in PLACE_PARAMS.values()}
    if kind not in KINDS or any(v and not v.isdigit() for v in place.values()) or sum(bool(v) for v in place.values()) > 1:
        abort(400)
    error = None
    try:
        period = period_from(
            parse_day(request.args.get("from"), "from"), parse_day(request.args.get("to"), "to"), utcnow()
        )
    except PeriodError as failure:
        if strict:
            abort(400)
        error, period = failure.message, period_from(None, None, utcnow())
    try:
        scope = resolve_scope(actor, **{k: int(v) for k, v in place.items() if v})
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    return kind, place, period, scope, error


def _place_url(place: dict, keep: dict) -> str:
    """The dashboard of another place (a drill-down or drill-up link), same period and kind."""
    args = {k: v for k, v in keep.items() if v}
    if place["level"] in PLACE_PARAMS:
        args[PLACE_PARAMS[place["level"]]] = place["id"]
    return url_for("console.dashboard", **args)


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _hours(value) -> str:
    return "—" if value is None else f"{value:.1f} 小时"


def _charts(figures: dict) -> dict:
    """What console-dashboard.js draws: rates in percent (null for "—") and counts."""
    pct = lambda v: None if v is None else round(v * 100, 1)  # noqa: E731
    return {
        "weekly": {
            "labels": [w["week_start"].strftime("%m-%d") for w in figures["weekly"]],
            "tickets": [w["tickets_in"] for w in figures["weekly"]],
            "response": [pct(w["response_rate"]) for w in figures["weekly"]],
            "closure": [pct(w["on_time_closure_rate"]) for w in figures["weekly"]],
            "satisfaction": [pct(w["satisfaction_rate"]) for w in figures["weekly"]],
        },
        "categories": {
            "labels": [c["name"] for c in figures["by_category"]],
            "tickets": [c["tickets_in"] for c in figures["by_category"]],
            "overdue": [c["overdue_now"] for c in figures["by_category"]],
        },
    }
