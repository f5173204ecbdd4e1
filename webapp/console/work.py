"""The console's work pages: the queue, a ticket and its actions, the notifications sent.

Every page calls the same feature functions as the mini-program API (webapp.tickets.queue,
webapp.tickets.actions, webapp.tickets.presenter): the console adds words and forms, never a
rule of its own. The buttons of a ticket are actions.available_actions (the state machine's
own checks); an action posts to /console/tickets/<id>/actions and calls actions.act_on_ticket,
as POST /api/v1/tickets/<id>/actions does, and is written to the audit trail.
"""
from __future__ import annotations

from flask import (
    abort,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)

from webapp.audit import trail
from webapp.columns import utcnow
from webapp.console import bp
from webapp.console.signin import staff_required
from webapp.errors import DomainError, Invalid
from webapp.extensions import db
from webapp.notifications.models import OutboxState
from webapp.notifications.templates import KIND_LABELS
from webapp.people import directory
from webapp.people.actors import Actor
from webapp.people.models import Person, Role
from webapp.people.persons import mask_phone
from webapp.photo_store import send_photo
from webapp.privacy import access
from webapp.registry.models import TicketKind
from webapp.registry.replies import replies_for
from webapp.tickets import actions, photos
from webapp.tickets.deadlines import time_left_words
from webapp.tickets.ladder import LEVEL_LABELS
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.presenter import TicketPresenter, running_deadline
from webapp.tickets.queue import (
    REPORTERS,
    messages_in_scope,
    queue_categories,
    scope_grids,
    status_counts,
)
from webapp.tickets.queue import (
    overdue_first_page as queue_page,  # the page the queue shows
)
from webapp.tickets.routing import RULE_LABELS
from webapp.tickets.state_machine import (
    ACTION_LABELS,
    REASON_REQUIRED,
    REASONS,
    STAFF_ACTIONS,
    Action,
    ActionInput,
    reason_label,
)

QUEUE_PAGE = 50
OVERSEER_ROLES = {Role.ADMIN.value, Role.STREET_STAFF.value, Role.COMMUNITY_STAFF.value}
NOTE_MAX = 500  # as the API's ActionSchema

STATUSES = [s.value for s in TicketStatus]
KIND_NAMES = {TicketKind.REPORT.value: "随手拍", TicketKind.WISH.value: "心语心愿"}
REPORTER_NAMES = {"resident": "居民", "rider": "骑手"}
# Who a timeline line names besides staff roles (state_machine's SYSTEM_ROLE, REPORTER_ROLE).
EVENT_ROLES = {"system": "系统", "reporter": "反映人", "resident": "居民", "rider": "骑手"}
OUTBOX_STATES = {
    OutboxState.QUEUED.value: "待发送",
    OutboxState.CLAIMED.value: "发送中",
    OutboxState.SENDING.value: "发送中",
    OutboxState.SENT.value: "已发送",
    OutboxState.FAILED.value: "发送失败",
    OutboxState.SKIPPED.value: "未发送",
}
CHANNELS = {"wechat": "微信", "log": "写入日志（演示）"}
# Why a staff member needs a reporter's full number ("显示号码" is recorded with it).
PHONE_REASONS = {
    "callback": "回访反映人",
    "verify": "核实问题情况",
    "on_site": "上门处理需联系",
    "other": "其他（请填写说明）",
}
DONE_WORDS = {
    Action.ACCEPT: "已接单",
    Action.RESOLVE: "已办结反馈，等待反映人评价",
    Action.DISPATCH: "已派单",
    Action.REASSIGN: "已改派",
    Action.ESCALATE: "已上报",
    Action.RETURN: "已退单",
    Action.MERGE: "已合并",
    Action.REJECT: "已驳回",
}


# --- the queue ---------------------------------------------------------------------------


def queue_filters(args) -> dict:
    """The queue's filters from the query string (abort 400 for a value not offered)."""
    status = args.get("status") or "open"
    if status not in ("open", *STATUSES):
        abort(400)
    kind = args.get("kind") or None
    reporter = args.get("reporter") or None
    if (kind and kind not in KIND_NAMES) or (reporter and reporter not in REPORTERS):
        abort(400)
    overdue = {"": None, "1": True, "0": False}.get(args.get("overdue", ""), "bad")
    grid = args.get("grid") or None
    if overdue == "bad" or (grid is not None and not grid.isdigit()):
        abort(400)
    return {
        "status": status,
        "category": (args.get("category") or "").strip()[:40] or None,
        "grid_id": int(grid) if grid else None,
        "overdue": overdue,
        "kind": kind,
        "reporter": reporter,
        "q": (args.get("q") or "").strip()[:40] or None,
        "mine": args.get("tab") == "mine",
    }


@bp.get("/")
@staff_required
def queue(actor: Actor):
    """The tickets in the caller's scope ("辖区") or held by them ("我的"), filtered, overdue
    first then newest, with counts by status and the time left in words."""
    filters = queue_filters(request.args)
    try:
        listed = queue_page(actor, cursor=request.args.get("cursor"), limit=QUEUE_PAGE, **filters)
    except ValueError:
        abort(400)
    now = utcnow()
    for item in listed["items"]:
        due = running_deadline(item)
        item["time_left"] = time_left_words(due, now)
        item["late"] = item["is_overdue"] or (due is not None and due < now)
    counts = status_counts(actor, **filters)
    if access.tickets_listed(actor, listed["items"], door="console", address=request.remote_addr):
        db.session.commit()  # the access log: the wishes' texts listed
    # The query string of the filters (links keep them; a tab, a status or a page changes one).
    kept = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template(
        "console/queue.html",
        actor=actor,
        items=listed["items"],
        next_cursor=listed["next_cursor"],
        filters=filters,
        kept=kept,
        counts=counts,
        open_count=sum(counts.get(s.value, 0) for s in TicketStatus if s.value in ("pending", "dispatched", "accepted", "resolved")),
        statuses=STATUSES,
        categories=queue_categories(),
        grids=scope_grids(actor),
        kind_names=KIND_NAMES,
        reporter_names=REPORTER_NAMES,
        level_labels=LEVEL_LABELS,
    )


# --- one ticket ----------------------------------------------------------------------------


def _phones(ticket: Ticket, shown: bool) -> list[dict]:
    """The reporter's numbers (contact phone, the reporter's own), masked unless shown."""
    numbers = []
    if ticket.contact_phone:
        numbers.append(("联系电话", ticket.contact_phone))
    if ticket.reporter_id and not ticket.is_anonymous:
        own = db.session.get(Person, ticket.reporter_id)
        if own is not None and own.phone and own.phone != ticket.contact_phone:
            numbers.append(("反映人手机", own.phone))
    return [{"label": label, "number": number if shown else mask_phone(number)} for label, number in numbers]


def _timeline(view: dict) -> list[dict]:
    role_names = {**{r.value: r.label for r in Role}, **EVENT_ROLES}
    lines = []
    for event in view["timeline"]:
        lines.append({
            **event,
            "role_label": role_names.get(event["actor_role"], "工作人员"),
            "reason_label": reason_label(event["action"], event["reason"]),
            "rule_label": RULE_LABELS.get(event["rule"] or "", "")
            if event["action"] in (Action.SUBMIT.value, Action.DISPATCH.value, Action.RETURN.value) else "",
        })
    return lines


def _ticket_page(actor: Actor, ticket: Ticket, *, error: DomainError | None = None,
                 show_phone: bool = False, form=None, status: int = 200):
    view = TicketPresenter(actor).detail(ticket)
    available = actions.available_actions(actor, ticket)
    timeline = _timeline(view)
    after_photos = [p for e in timeline if e["action"] == Action.RESOLVE.value for p in e["photo_ids"]]
    routing = next((e["rule_label"] for e in reversed(timeline) if e["rule_label"]), "")
    related = {}
    for key, ticket_id in (("duplicate", ticket.duplicate_of_id), ("merged_into", ticket.merged_into_id)):
        other = db.session.get(Ticket, ticket_id) if ticket_id else None
        if other is not None:
            related[key] = {"id": other.id, "number": other.number}
    needs_staff = Action.DISPATCH in available or Action.REASSIGN in available
    escalate_to = actions.escalation_target(actor, ticket) if Action.ESCALATE in available else None
    now = utcnow()
    body = render_template(
        "console/ticket.html",
        actor=actor,
        t=view,
        ticket=ticket,
        timeline=timeline,
        before_photos=view["photo_ids"],
        after_photos=after_photos,
        routing=routing,
        related=related,
        level_label=LEVEL_LABELS.get(view["level"], view["level"]),
        assignee_role=view["assignee"]["role"] if view["assignee"] else "",
        time_left=time_left_words(running_deadline(view), now),
        available=available,
        action_labels={a.value: ACTION_LABELS[a] for a in Action},
        reasons={a.value: choices for a, choices in REASONS.items()},
        reason_required={a.value for a in REASON_REQUIRED},
        staff=directory.assignable_staff(actor) if needs_staff else [],
        replies=replies_for(ticket.category_id) if Action.RESOLVE in available else [],
        escalate_to=LEVEL_LABELS.get(escalate_to or "", ""),
        phones=_phones(ticket, show_phone),
        phone_shown=show_phone,
        phone_reasons=PHONE_REASONS,
        reporter_kind="骑手" if ticket.is_rider_report else ("匿名" if ticket.is_anonymous else "居民"),
        kind_name=KIND_NAMES.get(view["kind"], ""),
        error=error,
        error_fields=[m for messages in ((error.errors or {}).values() if error else []) for m in messages],
        form=form or {},
        done=get_flashed_messages(),
    )
    return body, status


@bp.get("/tickets/<ticket_id>")
@staff_required
def ticket(actor: Actor, ticket_id: str):
    """One ticket: photos before and after, the timeline, and the actions allowed now."""
    ticket = actions.ticket_in_scope(actor, ticket_id)
    page = _ticket_page(actor, ticket)
    if access.ticket_viewed(actor, ticket, door="console", address=request.remote_addr):
        db.session.commit()  # the access log: a wish's text, a rating comment
    return page


def _note(form) -> str | None:
    note = (form.get("note") or "").strip()
    if len(note) > NOTE_MAX:
        raise Invalid(f"说明最多{NOTE_MAX}个字", errors={"note": [f"说明最多{NOTE_MAX}个字"]})
    return note or None


@bp.post("/tickets/<ticket_id>/actions")
@staff_required
def ticket_action(actor: Actor, ticket_id: str):
    """Take one action, as the API's POST /api/v1/tickets/<id>/actions does (same function,
    same result); then back to the ticket with a message, or the page with the refusal."""
    form = request.form
    action = form.get("action", "")
    version = form.get("version", "")
    if action not in {a.value for a in STAFF_ACTIONS} or not version.isdigit():
        abort(400)
    ticket = actions.ticket_in_scope(actor, ticket_id)  # 404 outside the scope: the error page
    try:
        photo_ids = []
        upload = request.files.get("photo")
        if upload is not None and upload.filename:
            photo_ids.append(photos.store_upload(actor, upload.stream, upload.filename).id)
        target = (form.get("target") or "").strip()[:40] or None
        if action == Action.MERGE.value and target:
            target = actions.ticket_id_by_number(target)
        given = ActionInput(
            note=_note(form), reason=form.get("reason") or None, photo_ids=photo_ids,
            target=target, expected_version=int(version),
        )
        acted = actions.act_on_ticket(actor, ticket_id, action, given)
        trail.record(
            trail.Action.TICKET_ACTION, actor_id=actor.person_id, target_type="ticket",
            target_id=acted.id, address=request.remote_addr,
            detail={"action": action, "reason": given.reason, "target": given.target,
                    "status": acted.status.value},
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        ticket = actions.ticket_in_scope(actor, ticket_id)
        return _ticket_page(actor, ticket, error=error, form=form, status=error.status)
    flash(DONE_WORDS[Action(action)])
    return redirect(url_for("console.ticket", ticket_id=ticket.id), 303)


@bp.post("/tickets/<ticket_id>/phone")
@staff_required
def show_phone(actor: Actor, ticket_id: str):
    """Show the reporter's full numbers on this page view only, with the reason recorded."""
    ticket = actions.ticket_in_scope(actor, ticket_id)
    reason = request.form.get("reason", "")
    note = (request.form.get("note") or "").strip()[:200]
    if reason not in PHONE_REASONS or (reason == "other" and not note):
        message = "请选择查看号码的原因" if reason not in PHONE_REASONS else "请填写查看号码的原因"
        return _ticket_page(actor, ticket, error=Invalid(message), form=request.form, status=422)
    trail.record(
        trail.Action.PHONE_SHOWN, actor_id=actor.person_id, target_type="ticket",
        target_id=ticket.id, address=request.remote_addr,
        detail={"reason": reason, "note": note},
    )
    db.session.commit()
    return _ticket_page(actor, ticket, show_phone=True)


@bp.get("/photos/<photo_id>")
@staff_required
def photo(actor: Actor, photo_id: str):
    """A ticket's photo, to staff who may see it (photos.photo_for_viewer's rule)."""
    _, stored = photos.photo_for_viewer(actor, photo_id)
    return send_photo(stored, max_age=0)


# --- notifications -----------------------------------------------------------------------


@bp.get("/notifications")
@staff_required
def notifications(actor: Actor):
    """Messages the outbox sent, skipped or failed about tickets in the caller's scope (in the
    demo they went to the log)."""
    if not actor.roles & OVERSEER_ROLES:
        abort(403)
    messages = messages_in_scope(actor, 100)
    people = {m.person_id for m in messages}
    names = dict(db.session.execute(
        db.select(Person.id, Person.name).where(Person.id.in_(people))
    ).all()) if people else {}
    return render_template(
        "console/notifications.html", actor=actor, messages=messages, names=names,
        kind_labels=KIND_LABELS, state_labels=OUTBOX_STATES, channels=CHANNELS,
    )
