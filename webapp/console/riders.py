"""Riders: pending riders to approve or refuse, invite codes, each rider's reports and points.

The door of webapp.people.riders: community staff (and admins) manage the riders and invites
of their communities; street staff see their streets' riders without acting; everyone else
gets the 403 page.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import redirect, render_template, request, url_for

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.people import riders
from webapp.people.actors import Actor

LOCAL = ZoneInfo("Asia/Shanghai")
DONE = {
    "approved": "已通过审核，骑手可以开始随手拍。",
    "refused": "已拒绝该骑手的申请。",
    "suspended": "已停用该骑手。",
    "invite": "邀请码已生成。",
    "revoked": "邀请码已作废。",
}


def _page(actor: Actor, *, error: str | None = None, status: int = 200, new_invite=None):
    rows = riders.riders_in(actor)
    now = datetime.now(tz=LOCAL)
    page = render_template(
        "console/riders.html",
        pending=[r for r in rows if r.status == "pending"],
        others=[r for r in rows if r.status != "pending"],
        invites=riders.invites_in(actor),
        communities=riders.manageable_communities(actor),
        error=error, notice=DONE.get(request.args.get("done", "")), new_invite=new_invite,
        now=now, default_expiry=(now + timedelta(days=riders.DEFAULT_INVITE_DAYS)).date().isoformat(),
    )
    return page, status


@bp.get("/riders")
@staff_required
def riders_page(actor: Actor):
    return _page(actor)


def _done(actor: Actor, done: str, change):
    try:
        change()
    except Invalid as error:
        db.session.rollback()
        return _page(actor, error=error.message, status=422)
    db.session.commit()
    return redirect(url_for("console.riders_page", done=done), 303)


@bp.post("/riders/<person_id>/approve")
@staff_required
def rider_approve(actor: Actor, person_id: str):
    return _done(actor, "approved", lambda: riders.approve(actor, person_id, address=request.remote_addr))


@bp.post("/riders/<person_id>/refuse")
@staff_required
def rider_refuse(actor: Actor, person_id: str):
    return _done(actor, "refused", lambda: riders.refuse(
        actor, person_id, reason=request.form.get("reason"), address=request.remote_addr))


@bp.post("/riders/<person_id>/suspend")
@staff_required
def rider_suspend(actor: Actor, person_id: str):
    return _done(actor, "suspended", lambda: riders.suspend(
        actor, person_id, reason=request.form.get("reason"), address=request.remote_addr))


def _int(name: str, label: str) -> int | None:
    value = (request.form.get(name) or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise Invalid(f"{label}须为整数", errors={name: [f"{label}须为整数"]}) from None


def _expiry() -> datetime | None:
    """The end of the chosen day, Beijing time (none: the default DEFAULT_INVITE_DAYS)."""
    value = (request.form.get("expires_on") or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise Invalid("有效期格式不正确", errors={"expires_on": ["有效期格式不正确"]}) from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL)


@bp.post("/riders/invites")
@staff_required
def rider_invite(actor: Actor):
    try:
        invite = riders.create_invite(
            actor, _int("community", "社区") or 0,
            auto_approve=request.form.get("auto_approve") == "1",
            max_uses=_int("max_uses", "使用次数"), expires_at=_expiry(), address=request.remote_addr,
        )
    except Invalid as error:
        db.session.rollback()
        return _page(actor, error=error.message, status=422)
    db.session.commit()
    return _page(actor, new_invite=invite)


@bp.post("/riders/invites/<int:invite_id>/revoke")
@staff_required
def rider_invite_revoke(actor: Actor, invite_id: int):
    return _done(actor, "revoked", lambda: riders.revoke_invite(actor, invite_id, address=request.remote_addr))
