"""The console's exports: the filtered queue, the dashboard's tables, a street's monthly report.

- /console/export.xlsx and /console/export.csv take the queue's query string (work.py's
  filters, same scope: a grid worker exports their queue, a wish only to its readers);
- /console/dashboard/export.xlsx|csv take the dashboard's (place, period, kind);
- /console/reports/monthly.xlsx?street=&month=YYYY-MM: one sheet per community of the
  street and a summary sheet, for the street's staff and admins.
Every export is written to the audit trail (导出数据) with what was exported, its filters and
its rows, and committed before the file is sent. The rows come from webapp.exports.
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from flask import Response, abort, request, send_file, stream_with_context

from webapp.audit import trail
from webapp.columns import utcnow
from webapp.console import bp
from webapp.console.dashboard import dashboard_arguments
from webapp.console.signin import staff_required
from webapp.console.work import queue_filters
from webapp.errors import NotFound
from webapp.exports import figures as figure_exports
from webapp.exports import queue as queue_exports
from webapp.exports.writers import CSV_MIMETYPE, XLSX_MIMETYPE, csv_chunks, write_xlsx
from webapp.extensions import db
from webapp.figures import compute
from webapp.figures.period import BEIJING
from webapp.figures.scope import load_place
from webapp.people.actors import Actor

FORMAT_NAMES = {"xlsx": "Excel", "csv": "CSV"}


# --- the queue ----------------------------------------------------------------------------


@bp.get("/export.xlsx")
@staff_required
def queue_export_xlsx(actor: Actor):
    """The filtered queue as one XLSX sheet (400 for a filter the queue refuses)."""
    filters = queue_filters(request.args)
    try:
        workbook, counts = write_xlsx([queue_exports.queue_sheet(actor, **filters)])
    except ValueError:
        abort(400)
    _audit(actor, "工单列表", "xlsx", sum(counts.values()))
    return _send_xlsx(workbook, "工单导出")


@bp.get("/export.csv")
@staff_required
def queue_export_csv(actor: Actor):
    """The filtered queue as CSV, streamed as it is read (UTF-8 with a BOM)."""
    filters = queue_filters(request.args)
    try:
        rows = queue_exports.queue_count(actor, **filters)
    except ValueError:
        abort(400)
    _audit(actor, "工单列表", "csv", rows)
    sheet = queue_exports.queue_sheet(actor, **filters)
    return _stream_csv([sheet], "工单导出")


# --- the dashboard ------------------------------------------------------------------------


@bp.get("/dashboard/export.<fmt>")
@staff_required
def dashboard_export(actor: Actor, fmt: str):
    """The dashboard's tables (totals, by category, by child unit, weekly, hotspots) for the
    same place, period and kind as /console/dashboard: 400 for a malformed argument, 404 for
    a place outside the viewer's scope, 403 for staff with no place to count."""
    if fmt not in FORMAT_NAMES:
        abort(404)
    kind, _place, period, scope, _ = dashboard_arguments(actor, strict=True)
    figures = compute.figures(actor, scope, period, kind=kind or None)
    sheets = figure_exports.dashboard_sheets(figures)
    rows = sum(len(batch) for sheet in sheets for batch in sheet.batches)
    _audit(actor, "数据统计", fmt, rows)
    name = f"数据统计-{figures['scope']['name']}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    if fmt == "csv":
        return _stream_csv(sheets, name, titled=True, stamp=False)
    workbook, _ = write_xlsx(sheets)
    return _send_xlsx(workbook, name, stamp=False)


# --- the monthly report of a street ---------------------------------------------------------


@bp.get("/reports/monthly.xlsx")
@staff_required
def monthly_report(actor: Actor):
    """A street's month as one XLSX, a sheet per community and a summary sheet, for the
    street's staff and admins (403 for other staff, 404 for no such street, 400 for a month
    that is not YYYY-MM). The month defaults to the last whole Beijing month."""
    street = request.args.get("street", "")
    if not street.isdigit():
        abort(404)
    month = request.args.get("month") or _last_month()
    try:
        period = figure_exports.month_period(month)
    except ValueError:
        abort(400)
    try:
        place = load_place("street", int(street))
    except NotFound:
        abort(404)
    if not actor.supervises_street(place.id):
        abort(403)
    sheets = figure_exports.monthly_report_sheets(actor, place.id, period)
    workbook, counts = write_xlsx(sheets)
    _audit(actor, "月度报表", "xlsx", sum(counts.values()), sheets=len(sheets))
    return _send_xlsx(workbook, f"月度报表-{place.name}-{month}", stamp=False)


def _last_month() -> str:
    first = utcnow().astimezone(BEIJING).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


# --- shared ---------------------------------------------------------------------------------


def _audit(actor: Actor, what: str, fmt: str, rows: int, **more) -> None:
    """Write the export to the audit trail and commit it: an export is recorded before it is
    sent (a download broken off is still on record)."""
    filters = {key: value for key, value in request.args.items() if value}
    trail.record(
        trail.Action.DATA_EXPORTED, actor_id=actor.person_id, address=request.remote_addr,
        detail={"what": what, "format": FORMAT_NAMES[fmt], "filters": filters, "rows": rows, **more},
    )
    db.session.commit()


def _disposition(name: str) -> str:
    """An attachment header with the Chinese name for browsers and an ASCII one for the rest."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _stamped(name: str, stamp: bool) -> str:
    return f"{name}-{utcnow().astimezone(BEIJING):%Y%m%d-%H%M}" if stamp else name


def _send_xlsx(workbook, name: str, *, stamp: bool = True):
    response = send_file(workbook, mimetype=XLSX_MIMETYPE, max_age=0)
    response.headers["Content-Disposition"] = _disposition(_stamped(name, stamp) + ".xlsx")
    return response


def _stream_csv(sheets, name: str, *, titled: bool = False, stamp: bool = True) -> Response:
    if titled:  # several tables in one file: each begins with its title, then its headers
        for sheet in sheets:
            sheet.batches = [[(sheet.title,), tuple(sheet.headers or ())], *sheet.batches]
            sheet.headers = None
    body = stream_with_context(csv_chunks(sheets))
    response = Response(body, mimetype=CSV_MIMETYPE)
    response.headers["Content-Disposition"] = _disposition(_stamped(name, stamp) + ".csv")
    return response
