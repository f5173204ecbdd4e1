"""The audit trail (admins): every action, sign-in, number shown, export, import and account
change, searched by person, ticket, action and Beijing dates; read-only, as the trail is."""
from __future__ import annotations

from datetime import date

from flask import abort, render_template, request

from webapp.audit import trail
from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import DomainError
from webapp.people.actors import Actor


def _day(name: str) -> tuple[date | None, str | None]:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, f"日期“{text[:20]}”无效，应为 2026-11-29 的格式"


@bp.get("/audit")
@staff_required
def audit(actor: Actor):
    """Newest first, 50 a page (?before=<id> for the next one)."""
    if not actor.is_admin:
        abort(403)
    date_from, error_from = _day("from")
    date_to, error_to = _day("to")
    before = request.args.get("before", type=int)
    query = trail.AuditQuery(
        person=(request.args.get("person") or "")[:40], ticket=(request.args.get("ticket") or "")[:40],
        action=request.args.get("action") or "", date_from=date_from, date_to=date_to, before_id=before,
    )
    error = error_from or error_to
    if date_from and date_to and date_from > date_to:
        error = "开始日期不能晚于结束日期"
    page = None
    if error is None:
        try:
            page = trail.search(query)
        except DomainError as failure:
            error = failure.message
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "console/audit.html", actor=actor, query=query, page=page, error=error, args=args,
        actions=[(a.value, label) for a, label in trail.ACTION_LABELS.items()],
    ), (400 if error else 200)
