"""Signs and codes: print a community's signs (at once) or a street's (a background job whose
progress the page polls), revoke or reissue one building's code after a confirm step."""
from __future__ import annotations

import tempfile

from flask import abort, jsonify, redirect, render_template, request, send_file, url_for
from sqlalchemy import select

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry import codes, sign_jobs, signs
from webapp.registry.models import Community, Street

_SUPERVISORS = {"admin", "street_staff", "community_staff"}
CODE_ACTIONS = {
    "reissue": ("重新签发二维码", "旧二维码将立即停用（扫码显示“已停用”），并生成新的二维码。请随后打印新的公示牌替换楼栋门口的旧牌。"),
    "revoke": ("停用二维码", "二维码将立即停用，扫码显示“已停用”，且不再生成新的二维码。适用于楼栋拆除或公示牌撤下。"),
}


def _supervisor(actor: Actor) -> None:
    if not actor.roles & _SUPERVISORS:
        abort(403)


def _error_page(error: DomainError):
    return render_template("error.html", status=error.status, message=error.message), error.status


@bp.get("/signs")
@staff_required
def signs_index(actor: Actor):
    _supervisor(actor)
    streets = db.session.scalars(select(Street).order_by(Street.code)).all()
    communities = db.session.scalars(select(Community).order_by(Community.code)).all()
    allowed = [c for c in communities if actor.supervises_community(c.id, c.street_id)]
    return render_template(
        "console/signs.html", actor=actor, communities=allowed,
        streets=[s for s in streets if actor.supervises_street(s.id)],
        jobs=sign_jobs.recent_jobs(actor), status_labels=sign_jobs.STATUS_LABELS,
    )


@bp.get("/signs.pdf")
@staff_required
def signs_pdf(actor: Actor):
    """The printable sign PDF of one community, written to a temporary file (404 out of scope).
    A street's is a background job (POST /console/signs/jobs)."""
    community_code = request.args.get("community")
    if not community_code:
        abort(404)
    spool = tempfile.TemporaryFile()
    try:
        signs.print_community_signs(actor, community_code, spool, address=request.remote_addr)
    except DomainError as error:
        spool.close()
        db.session.rollback()
        return _error_page(error)
    db.session.commit()
    spool.seek(0)
    return send_file(spool, mimetype="application/pdf", download_name=f"公示牌-{community_code}.pdf",
                     as_attachment=True)


@bp.post("/signs/jobs")
@staff_required
def sign_job_start(actor: Actor):
    """Start printing a street's signs in the background; on to the page that shows progress."""
    _supervisor(actor)
    try:
        job = sign_jobs.create_job(actor, request.form.get("street", ""), address=request.remote_addr)
    except DomainError as error:
        db.session.rollback()
        return _error_page(error)
    db.session.commit()
    sign_jobs.launch(job.id)
    return redirect(url_for("console.sign_job", job_id=job.id), 303)


def _job(actor: Actor, job_id: str):
    try:
        return sign_jobs.visible_job(actor, job_id)
    except DomainError:
        abort(404)


def _job_state(job) -> dict:
    return {
        "status": job.status,
        "status_label": sign_jobs.STATUS_LABELS.get(job.status, job.status),
        "done": job.done,
        "total": job.total,
        "percent": int(100 * job.done / job.total) if job.total else 0,
        "error": job.error or "",
        "download_url": url_for("console.sign_job_download", job_id=job.id) if sign_jobs.job_file(job) else "",
    }


@bp.get("/signs/jobs/<job_id>")
@staff_required
def sign_job(actor: Actor, job_id: str):
    job = _job(actor, job_id)
    street = db.session.scalars(select(Street).where(Street.code == job.scope_code)).first()
    return render_template("console/signs_job.html", actor=actor, job=job, state=_job_state(job),
                           street_name=street.name if street else job.scope_code)


@bp.get("/signs/jobs/<job_id>/status")
@staff_required
def sign_job_status(actor: Actor, job_id: str):
    """The job's progress for console-signs.js (JSON: the page itself works without it)."""
    return jsonify(_job_state(_job(actor, job_id)))


@bp.get("/signs/jobs/<job_id>/download")
@staff_required
def sign_job_download(actor: Actor, job_id: str):
    job = _job(actor, job_id)
    path = sign_jobs.job_file(job)
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/pdf", download_name=f"公示牌-{job.scope_code}.pdf",
                     as_attachment=True)


@bp.get("/signs/codes")
@staff_required
def sign_codes(actor: Actor):
    """A community's buildings with their codes, each with reissue and revoke."""
    _supervisor(actor)
    community_code = request.args.get("community", "")
    try:
        community = codes.community_in_scope(actor, community_code)
        buildings = codes.buildings_with_codes(actor, community_code)
    except DomainError as error:
        return _error_page(error)
    return render_template("console/signs_codes.html", actor=actor, community=community, buildings=buildings,
                           notice=request.args.get("done"), new_code=request.args.get("code"))


@bp.get("/signs/buildings/<int:building_id>/code")
@staff_required
def sign_code_confirm(actor: Actor, building_id: int):
    """The confirm step of a reissue or a revoke (?action=reissue|revoke)."""
    _supervisor(actor)
    action = request.args.get("action", "")
    if action not in CODE_ACTIONS:
        abort(404)
    try:
        building, community = codes.building_in_scope(actor, building_id)
    except DomainError as error:
        return _error_page(error)
    title, warning = CODE_ACTIONS[action]
    return render_template("console/signs_confirm.html", actor=actor, building=building, community=community,
                           action=action, title=title, warning=warning,
                           current=codes.active_code(building.id))


@bp.post("/signs/buildings/<int:building_id>/code")
@staff_required
def sign_code_change(actor: Actor, building_id: int):
    _supervisor(actor)
    action = request.form.get("action", "")
    if action not in CODE_ACTIONS:
        abort(400)
    try:
        building, community = codes.building_in_scope(actor, building_id)
        if action == "reissue":
            new = codes.reissue_code_by(actor, building_id, address=request.remote_addr)
        else:
            codes.revoke_code_by(actor, building_id, address=request.remote_addr)
            new = None
    except DomainError as error:
        db.session.rollback()
        return _error_page(error)
    db.session.commit()
    return redirect(url_for("console.sign_codes", community=community.code, done=action,
                            code=new.code if new else None) + f"#b{building_id}", 303)
