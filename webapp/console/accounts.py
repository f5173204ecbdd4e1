"""Staff accounts (/console/staff): create, roles and scope, password reset, leave, away.

The door of webapp.people.accounts (who manages whom, and what each change does, is there):
admins and community staff only, everyone else gets the 403 page. A new or reset password
is on the answer to the POST that made it, shown once (the console's pages are no-store) and
never again. Leaving (离岗停用) deactivates the person and hands their open tickets back to
the dispatch queue (webapp.tickets.handover) in one transaction.
"""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import Forbidden, Invalid
from webapp.extensions import db
from webapp.people import accounts
from webapp.people.actors import Actor
from webapp.people.models import ROLE_LABELS, Role
from webapp.privacy import access
from webapp.tickets import handover

# The notice a page shows after a change (?done=...).
DONE = {
    "roles": "角色和范围已保存。",
    "phone": "工作电话已保存。",
    "away": "已标记为请假，新工单将派给代班人（未设代班人时进入社区待派单）。",
    "back": "已恢复在岗，新工单将派给本人。",
    "left": "已停用该账号，其未办结工单已退回社区待派单。",
}
SCOPE_LABELS = {"grid": "网格", "community": "社区", "street": "街道", "department": "部门"}


def _door(actor: Actor) -> None:
    if not accounts.may_manage_accounts(actor):
        raise Forbidden("只有管理员和社区工作人员可以管理人员账号")


def _grants_from_form() -> list[accounts.Grant]:
    pairs = [(Role.ADMIN.value, None)] if request.form.get("admin") == "1" else []
    for role in Role:
        if role is Role.ADMIN:
            continue
        pairs += [(role.value, v) for v in request.form.getlist(f"scope_{role.value}") if v]
    return accounts.parse_grants(pairs)


def _role_fields(actor: Actor, chosen: list[accounts.Grant]) -> list[dict]:
    """The role pickers of the form: each grantable role with its places to tick."""
    scopes = accounts.grantable_scopes(actor)
    fields = []
    for role in accounts.grantable_roles(actor):
        kind = accounts.SCOPE_OF[role]
        fields.append({
            "role": role.value,
            "label": ROLE_LABELS[role],
            "kind": kind,
            "kind_label": SCOPE_LABELS.get(kind, ""),
            "choices": scopes.get(kind, []) if kind else [],
            "chosen": {g.scope_id for g in chosen if g.role is role},
            "held": any(g.role is role for g in chosen),
        })
    return fields


@bp.get("/staff")
@staff_required
def staff(actor: Actor):
    q = (request.args.get("q") or "").strip()[:40]
    rows = accounts.staff_list(actor, q=q or None)
    return render_template("console/staff.html", rows=rows, q=q, notice=DONE.get(request.args.get("done", "")))


@bp.get("/staff/new")
@staff_required
def staff_new(actor: Actor):
    _door(actor)
    return render_template("console/staff_form.html", fields=_role_fields(actor, []), values={}, error=None)


@bp.post("/staff/new")
@staff_required
def staff_create(actor: Actor):
    _door(actor)
    values = {k: request.form.get(k, "").strip() for k in ("code", "name", "phone")}
    grants: list[accounts.Grant] = []
    try:
        grants = _grants_from_form()
        person, password = accounts.create_staff(
            actor, code=values["code"], name=values["name"], phone=values["phone"], grants=grants,
            address=request.remote_addr,
        )
    except Invalid as error:
        db.session.rollback()
        return render_template(
            "console/staff_form.html", fields=_role_fields(actor, grants), values=values, error=error.message,
        ), 422
    db.session.commit()
    return render_template("console/staff_password.html", person=person, password=password, created=True)


def _person_page(actor: Actor, person_id: str, *, error: str | None = None, status: int = 200):
    row = accounts.staff_row(actor, person_id)
    if access.person_viewed(
        actor, person_id, shown=[access.MOBILE_PHONE] if row.phone else [], door="console",
        address=request.remote_addr,
    ):
        db.session.commit()  # the page shows the number: its view is logged even on a 422
    page = render_template(
        "console/staff_person.html", row=row, fields=_role_fields(actor, row.grants),
        standins=accounts.standin_choices(actor, person_id) if not row.deactivated else [],
        error=error, notice=DONE.get(request.args.get("done", "")), is_self=person_id == actor.person_id,
    )
    return page, status


@bp.get("/staff/<person_id>")
@staff_required
def staff_person(actor: Actor, person_id: str):
    return _person_page(actor, person_id)


def _change(actor: Actor, person_id: str, done: str, change):
    """Run one change; on Invalid the person's page again with the reason (422)."""
    try:
        change()
    except Invalid as error:
        db.session.rollback()
        return _person_page(actor, person_id, error=error.message, status=422)
    db.session.commit()
    return redirect(url_for("console.staff_person", person_id=person_id, done=done), 303)


@bp.post("/staff/<person_id>/roles")
@staff_required
def staff_roles(actor: Actor, person_id: str):
    return _change(actor, person_id, "roles", lambda: accounts.set_roles(
        actor, person_id, _grants_from_form(), address=request.remote_addr))


@bp.post("/staff/<person_id>/phone")
@staff_required
def staff_phone(actor: Actor, person_id: str):
    return _change(actor, person_id, "phone", lambda: accounts.set_work_phone(
        actor, person_id, work_phone=request.form.get("work_phone"),
        publish=request.form.get("publish_phone") == "1", address=request.remote_addr))


@bp.post("/staff/<person_id>/away")
@staff_required
def staff_away(actor: Actor, person_id: str):
    return _change(actor, person_id, "away", lambda: accounts.set_away(
        actor, person_id, standin_id=request.form.get("standin") or None, address=request.remote_addr))


@bp.post("/staff/<person_id>/back")
@staff_required
def staff_back(actor: Actor, person_id: str):
    return _change(actor, person_id, "back", lambda: accounts.set_back(actor, person_id, address=request.remote_addr))


@bp.post("/staff/<person_id>/password")
@staff_required
def staff_password(actor: Actor, person_id: str):
    """A new password, on this answer only."""
    try:
        person, password = accounts.reset_password(actor, person_id, address=request.remote_addr)
    except Invalid as error:
        db.session.rollback()
        return _person_page(actor, person_id, error=error.message, status=422)
    db.session.commit()
    return render_template("console/staff_password.html", person=person, password=password, created=False)


@bp.get("/staff/<person_id>/deactivate")
@staff_required
def staff_deactivate_confirm(actor: Actor, person_id: str):
    row = accounts.staff_row(actor, person_id)
    return render_template(
        "console/staff_deactivate.html", row=row, held=handover.held_count(person_id),
        is_self=person_id == actor.person_id,
    )


@bp.post("/staff/<person_id>/deactivate")
@staff_required
def staff_deactivate(actor: Actor, person_id: str):
    """Leaving: the account ends and the open tickets go back to the queue, together."""
    def change():
        person = accounts.deactivate(actor, person_id, address=request.remote_addr)
        handover.release_tickets_of(person.id, actor)

    return _change(actor, person_id, "left", change)
