"""The one-table import (admins): upload, see every change and every bad row, then apply."""
from __future__ import annotations

from flask import abort, render_template, request

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import Conflict, DomainError
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry.importer import SHEETS
from webapp.registry.importer.staged import apply_staged, discard, stage_upload

KEYS_SHOWN = 30  # codes listed per sheet and kind of change (the rest as "等 N 项")


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        abort(403)


def _page(actor: Actor, *, status: int = 200, **values):
    values.setdefault("staged", None)
    return render_template("console/imports.html", actor=actor, sheets=SHEETS, keys_shown=KEYS_SHOWN,
                           **values), status


@bp.get("/imports")
@staff_required
def imports_index(actor: Actor):
    _admin(actor)
    return _page(actor)


@bp.post("/imports")
@staff_required
def imports_preview(actor: Actor):
    """Keep the upload and show what it would do; nothing of the registry is written."""
    _admin(actor)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(actor, status=422, error="请选择要导入的文件")
    try:
        staged = stage_upload(upload.read(), upload.filename, actor_id=actor.person_id, address=request.remote_addr)
    except DomainError as error:
        db.session.rollback()
        return _page(actor, status=422, error=error.message)
    db.session.commit()  # the preview's audit entry
    return _page(actor, staged=staged)


@bp.post("/imports/apply")
@staff_required
def imports_apply(actor: Actor):
    """Apply the previewed file, exactly as previewed (409 when it no longer would be)."""
    _admin(actor)
    token = request.form.get("token", "")
    try:
        report = apply_staged(token, request.form.get("sha256", ""), actor_id=actor.person_id,
                              address=request.remote_addr)
    except DomainError as error:
        db.session.rollback()
        status = 409 if isinstance(error, Conflict) else error.status
        return _page(actor, status=status, error=error.message)
    db.session.commit()
    return _page(actor, applied=report)


@bp.post("/imports/cancel")
@staff_required
def imports_cancel(actor: Actor):
    _admin(actor)
    try:
        discard(request.form.get("token", ""))
    except DomainError:
        pass
    return _page(actor, notice="已取消，本次上传的文件已删除。")
