"""The working-day calendar (admins): the days of a year, one day's edit, a CSV import, the
December warning every console page shows an admin while next year has no entries."""
from __future__ import annotations

import hashlib

from flask import Response, abort, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.tickets import calendar

MAX_CSV_BYTES = 256 * 1024


def beijing_today():
    """Today in Beijing (a function of its own so that tests can fix the date)."""
    return calendar.beijing_today()


@bp.context_processor
def _calendar_warning() -> dict:
    """calendar_warning for base.html: from 1 December, to admins, while next year is empty."""
    try:
        if not current_user.is_authenticated or not current_user.actor.is_admin:
            return {}
        return {"calendar_warning": calendar.missing_year_warning(beijing_today())}
    except Exception:  # noqa: BLE001 - an error page must render even with the database down
        return {}


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        abort(403)


def _page(actor: Actor, year: int, *, status: int = 200, error: str | None = None, form=None, preview=None,
          csv_text: str = "", notice: str | None = None):
    summaries = calendar.year_summaries()
    this_year = beijing_today().year
    # The years around now (older ones through the year box), and the one shown.
    years = sorted({s.year for s in summaries if s.year >= this_year - 2} | {year, this_year, this_year + 1},
                   reverse=True)
    edit_day = form or {}
    body = render_template(
        "console/calendar.html", actor=actor, year=year, years=years,
        summaries={s.year: s for s in summaries}, days=calendar.days_of_year(year),
        type_labels=calendar.TYPE_LABELS, weekday_label=calendar.weekday_label, error=error,
        form=edit_day, preview=preview, csv_text=csv_text, csv_digest=_digest(csv_text) if csv_text else "",
        notice=notice, package_years=sorted(calendar.package_years()),
    )
    return body, status


def _year_arg() -> int:
    try:
        year = int(request.values.get("year") or beijing_today().year)
    except ValueError:
        abort(400)
    if not 2000 <= year <= 2100:
        abort(400)
    return year


def _normalised(text: str) -> str:
    """A form's textarea comes back with CRLF line ends: compare and parse with LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _digest(text: str) -> str:
    return hashlib.sha256(_normalised(text).encode("utf-8")).hexdigest()


@bp.get("/calendar")
@staff_required
def calendar_index(actor: Actor):
    """The days of one year (?year=2027) and the forms to change them."""
    _admin(actor)
    year = _year_arg()
    form = {}
    if request.args.get("edit"):
        try:
            entry = calendar.day_entry(calendar.parse_day(request.args["edit"]))
        except DomainError:
            entry = None
        if entry is not None:
            form = {"day": entry.day.isoformat(), "type": calendar.WORKDAY if entry.is_workday else calendar.HOLIDAY,
                    "name": entry.name}
    notice = {"saved": "已保存。", "deleted": "已删除。", "imported": "已导入。"}.get(request.args.get("done", ""))
    return _page(actor, year, form=form, notice=notice)


@bp.post("/calendar/days")
@staff_required
def calendar_save(actor: Actor):
    """Add or change one day; a refusal shows the form again with the reason (422)."""
    _admin(actor)
    form = {k: request.form.get(k, "") for k in ("day", "type", "name")}
    try:
        day = calendar.parse_day(form["day"])
        calendar.save_day(day, form["type"], form["name"], actor_id=actor.person_id, address=request.remote_addr)
    except DomainError as error:
        db.session.rollback()
        return _page(actor, _year_arg(), status=422, error=error.message, form=form)
    db.session.commit()
    return redirect(url_for("console.calendar_index", year=day.year, done="saved"), 303)


@bp.post("/calendar/days/<day_text>/delete")
@staff_required
def calendar_delete(actor: Actor, day_text: str):
    _admin(actor)
    try:
        day = calendar.parse_day(day_text)
        calendar.delete_day(day, actor_id=actor.person_id, address=request.remote_addr)
    except DomainError as error:
        db.session.rollback()
        return render_template("error.html", status=error.status, message=error.message), error.status
    db.session.commit()
    return redirect(url_for("console.calendar_index", year=day.year, done="deleted"), 303)


@bp.post("/calendar/import")
@staff_required
def calendar_import_preview(actor: Actor):
    """Check an uploaded CSV: every bad row with its reason, what would change; writes nothing."""
    _admin(actor)
    upload = request.files.get("file")
    data = upload.read(MAX_CSV_BYTES + 1) if upload else b""
    year = _year_arg()
    if not data:
        return _page(actor, year, status=422, error="请选择要导入的 CSV 文件")
    if len(data) > MAX_CSV_BYTES:
        return _page(actor, year, status=422, error="文件过大：工作日历 CSV 不应超过 256 KB")
    try:
        text = calendar.decode_csv(data)
    except DomainError as error:
        return _page(actor, year, status=422, error=error.message)
    text = _normalised(text)
    preview = calendar.parse_csv(text)
    return _page(actor, year, preview=preview, csv_text=text if preview.ok else "")


@bp.post("/calendar/import/apply")
@staff_required
def calendar_import_apply(actor: Actor):
    """Apply the CSV previewed: the text comes back with its digest and must match it."""
    _admin(actor)
    text = _normalised(request.form.get("csv_text", ""))
    if not text or _digest(text) != request.form.get("digest"):
        return _page(actor, _year_arg(), status=409, error="导入内容与预览不一致，请重新上传文件并预览。")
    preview = calendar.import_csv(text, actor_id=actor.person_id, address=request.remote_addr)
    if not preview.ok:
        db.session.rollback()
        return _page(actor, _year_arg(), status=422, preview=preview)
    db.session.commit()
    first_year = min(d.day.year for d in preview.days)
    return redirect(url_for("console.calendar_index", year=first_year, done="imported"), 303)


@bp.get("/calendar/export.csv")
@staff_required
def calendar_export(actor: Actor):
    _admin(actor)
    year = request.args.get("year", type=int)
    text = calendar.export_csv([year] if year else None)
    name = f"calendar-{year or 'all'}.csv"
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
