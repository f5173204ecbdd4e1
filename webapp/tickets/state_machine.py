"""The ticket state machine: one transition table, and the one function that changes status.

Every change appends a TicketEvent in the same transaction. Concurrent changes are caught by
the ticket's version column (optimistic locking): the loser's flush fails and maps to 409.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


from sqlalchemy import select

from webapp.columns import utcnow
from webapp.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from webapp.extensions import db
from webapp.figures import rollup
from webapp.people import directory, riders
from webapp.people.actors import Actor
from webapp.people.models import Person, Role
from webapp.registry.models import Category, TicketKind
from webapp.tickets import access, ladder, notices, wishes
from webapp.tickets.deadlines import due_times
from webapp.tickets.ladder import LEVEL_LABELS
from webapp.tickets.models import Ticket, TicketEvent, TicketStatus
from webapp.tickets.photos import claim_photos
from webapp.tickets.routing import RULE_LABELS, community_head

S = TicketStatus


class Action(str, enum.Enum):
    SUBMIT = "submit"  # system: a new ticket, routed
    DISPATCH = "dispatch"  # supervisor: a pending ticket from the community queue to a person
    ACCEPT = "accept"
    RESOLVE = "resolve"
    RETURN = "return"  # 退单: wrong grid or category, back to the community queue
    REASSIGN = "reassign"  # 改派
    ESCALATE = "escalate"  # 督办/吹哨: one step up the ladder
    REJECT = "reject"
    MERGE = "merge"
    CONFIRM = "confirm"  # reporter: fixed, with a rating
    REOPEN = "reopen"  # reporter: not fixed
    AUTO_CLOSE = "auto_close"  # system: resolved and never rated
    UNASSIGN = "unassign"  # system/supervisor: the holder left (tickets.handover), back to the queue


STAFF_ACTIONS = frozenset(
    {
        Action.DISPATCH,
        Action.ACCEPT,
        Action.RESOLVE,
        Action.RETURN,
        Action.REASSIGN,
        Action.ESCALATE,
        Action.REJECT,
        Action.MERGE,
    }
)

@dataclass(frozen=True)
class Move:
    """Where an action takes a ticket: `to`, or `otherwise` when the condition `when` holds
    (the effect of the action decides which; _change refuses any other status)."""

    to: TicketStatus
    otherwise: TicketStatus | None = None
    when: str | None = None

    @property
    def targets(self) -> tuple[TicketStatus, ...]:
        return (self.to,) if self.otherwise is None else (self.to, self.otherwise)


NOBODY_ROUTED = "routing finds nobody to answer for it: it waits in the community's queue"
THIRD_RETURN = "returned more than MAX_RETURNS_TO_QUEUE times: it goes to the community head"
NOBODY_HOLDS = "nobody holds it (it was in the community's queue, or its handler has left): it waits there again"

# (status before, action) → where it goes. Anything not listed is illegal (409). Every target
# is stated here, conditional ones included; tests/tickets/test_state_machine.py walks each.
TRANSITIONS: dict[tuple[TicketStatus | None, Action], Move] = {
    (None, Action.SUBMIT): Move(S.DISPATCHED, S.PENDING, NOBODY_ROUTED),
    (S.PENDING, Action.DISPATCH): Move(S.DISPATCHED),
    (S.PENDING, Action.REASSIGN): Move(S.DISPATCHED),
    (S.PENDING, Action.ESCALATE): Move(S.PENDING),
    (S.PENDING, Action.REJECT): Move(S.REJECTED),
    (S.PENDING, Action.MERGE): Move(S.MERGED),
    (S.DISPATCHED, Action.ACCEPT): Move(S.ACCEPTED),
    (S.DISPATCHED, Action.RETURN): Move(S.PENDING, S.DISPATCHED, THIRD_RETURN),
    (S.DISPATCHED, Action.REASSIGN): Move(S.DISPATCHED),
    (S.DISPATCHED, Action.ESCALATE): Move(S.DISPATCHED),
    (S.DISPATCHED, Action.REJECT): Move(S.REJECTED),
    (S.DISPATCHED, Action.MERGE): Move(S.MERGED),
    (S.ACCEPTED, Action.RESOLVE): Move(S.RESOLVED),
    (S.ACCEPTED, Action.RETURN): Move(S.PENDING, S.DISPATCHED, THIRD_RETURN),
    (S.ACCEPTED, Action.REASSIGN): Move(S.DISPATCHED),
    (S.ACCEPTED, Action.ESCALATE): Move(S.ACCEPTED),
    (S.ACCEPTED, Action.REJECT): Move(S.REJECTED),
    (S.ACCEPTED, Action.MERGE): Move(S.MERGED),
    (S.RESOLVED, Action.CONFIRM): Move(S.CLOSED),
    (S.RESOLVED, Action.REOPEN): Move(S.DISPATCHED, S.PENDING, NOBODY_HOLDS),
    (S.RESOLVED, Action.AUTO_CLOSE): Move(S.CLOSED),
    (S.DISPATCHED, Action.UNASSIGN): Move(S.PENDING),
    (S.ACCEPTED, Action.UNASSIGN): Move(S.PENDING),
}

ACTION_LABELS = {
    Action.SUBMIT: "提交",
    Action.DISPATCH: "派单",
    Action.ACCEPT: "接单",
    Action.RESOLVE: "办结反馈",
    Action.RETURN: "退单",
    Action.REASSIGN: "改派",
    Action.ESCALATE: "督办上报",
    Action.REJECT: "驳回",
    Action.MERGE: "合并",
    Action.CONFIRM: "确认解决",
    Action.REOPEN: "未解决，重新办理",
    Action.AUTO_CLOSE: "超期未评价，自动办结",
    Action.UNASSIGN: "人员离岗，退回派单",
}

RETURN_REASONS = {
    "wrong_grid": "不属于本网格",
    "wrong_category": "问题类别不对",
    "not_my_duty": "不属于本人/本部门职责",
    "cannot_handle": "超出处理能力，需要上级协调",
}
REJECT_REASONS = {
    "invalid": "无效信息",
    "abusive": "含有不文明或恶意内容",
    "out_of_scope": "不属于受理范围",
    "duplicate": "重复反映",
}
MERGE_REASONS = {"duplicate": "重复反映，已合并到同一工单"}
REASSIGN_REASONS = {
    "wrong_person": "接收人不对",
    "on_leave": "原处理人请假或外出",
    "needs_expertise": "需要专业人员处理",
    "workload": "工作量调配",
}
ESCALATE_REASONS = {
    "beyond_authority": "超出本级处理权限",
    "needs_coordination": "需要多部门协调",
    "repeated_complaints": "群众反复反映",
    "overdue": "超期未办结",
}
# The reason codes each action takes (GET /api/v1/work/reasons lists them), and the actions
# that need one; the others take one optionally (the deadline command escalates without).
REASONS = {
    Action.RETURN: RETURN_REASONS,
    Action.REASSIGN: REASSIGN_REASONS,
    Action.ESCALATE: ESCALATE_REASONS,
    Action.REJECT: REJECT_REASONS,
    Action.MERGE: MERGE_REASONS,
}
REASON_REQUIRED = frozenset({Action.RETURN, Action.REJECT, Action.MERGE})


def reason_label(action: str, reason: str | None) -> str:
    """The Chinese label of an event's reason ("" if none): its action's code, or the level an
    escalation without a reason code went to."""
    try:
        choices = REASONS.get(Action(action), {})
    except ValueError:
        return ""
    return choices.get(reason or "") or (LEVEL_LABELS.get(reason or "", "") if action == Action.ESCALATE.value else "")

# After this many returns a ticket goes to the community head instead of the queue.
MAX_RETURNS_TO_QUEUE = 2

SUPERVISOR_ROLES = frozenset({Role.COMMUNITY_STAFF.value, Role.STREET_STAFF.value, Role.ADMIN.value})
SYSTEM_ROLE = "system"
REPORTER_ROLE = "reporter"


@dataclass
class ActionInput:
    """What the caller says along with an action; each action reads what it needs."""

    note: str | None = None
    reason: str | None = None
    photo_ids: list[str] = field(default_factory=list)
    target: str | None = None
    rating: int | None = None
    comment: str | None = None
    expected_version: int | None = None
    # Set by submission: the routing decision (assignee_id, rule), and the category for its
    # deadlines (a Category or registry.CategoryInfo: the new ticket's relationship is not
    # loaded).
    routing: tuple[str | None, str] | None = None
    category: Category | None = None


def allowed_actions(status: TicketStatus | None) -> set[Action]:
    return {action for (before, action) in TRANSITIONS if before == status}


def may_act(actor: Actor, ticket: Ticket, action: Action) -> bool:
    """Whether `actor` may take `action` on `ticket` now, by the checks transition() makes:
    the status's row of TRANSITIONS, the actor's (_check_actor: role, scope, who dispatches)
    and, for an escalation, the ladder's next rung (none at the top, the department only by
    the street). What the caller would send with it (reason, target, photo) is not judged."""
    if (ticket.status, action) not in TRANSITIONS:
        return False
    try:
        _check_actor(ticket, action, actor)
        if action is Action.ESCALATE:
            ladder.next_level(ticket, actor)
    except (Forbidden, NotFound, InvalidTransition):
        return False
    return True


def transition(
    ticket: Ticket,
    action: Action,
    actor: Actor | None,
    given: ActionInput | None = None,
    *,
    now: datetime | None = None,
) -> TicketEvent:
    """Apply one action to a ticket: check it, change the ticket, append its event.

    `actor` is None for the system (the deadline command, auto-close). Raises
    InvalidTransition (409) for an action the status does not allow, Conflict (409) for a stale
    version, Forbidden (403) for a role that may not act, NotFound (404) outside the caller's
    scope, Invalid (422) for missing reasons, photos or targets.
    """
    # One flush at the end: the ticket is written once, with its new version, and its event.
    with db.session.no_autoflush:
        event = _change(ticket, action, actor, given or ActionInput(), now or utcnow())
        # Set from the event's side: appending to ticket.events would load its whole timeline.
        event.ticket = ticket
        db.session.add(event)
    db.session.flush()
    rollup.on_transition(ticket, event.at)
    notices.on_transition(ticket, event)
    return event


def open_ticket(ticket: Ticket, actor: Actor, given: ActionInput, *, now: datetime) -> TicketEvent:
    """The submit transition of a ticket not yet written (submission's fast path): sets its
    status, assignee and deadlines and returns its first event, neither added to a session.

    given.routing is the routing decision, given.category the category (for its deadlines).
    The caller writes the ticket, the event and notices.assignee_notice in its own
    statements, in one transaction.
    """
    return _change(ticket, Action.SUBMIT, actor, given, now)


def _change(
    ticket: Ticket, action: Action, actor: Actor | None, given: ActionInput, now: datetime
) -> TicketEvent:
    """Check the action, apply its effects and the new status; the event, not yet added."""
    before = ticket.status
    if given.expected_version is not None and given.expected_version != ticket.version:
        raise Conflict("工单已被他人更新，请刷新后重试", code="stale_version")
    _check_actor(ticket, action, actor)
    if (before, action) not in TRANSITIONS:
        raise InvalidTransition(
            f"工单当前状态为“{_status_label(before)}”，不能“{ACTION_LABELS[action]}”"
        )
    move = TRANSITIONS[(before, action)]
    _check_reason(action, given)
    event = TicketEvent(
        action=action.value,
        actor_id=None if actor is None or _hide_actor(ticket, action) else actor.person_id,
        actor_role=_event_role(ticket, action, actor),
        from_status=before.value if before else None,
        note=given.note,
        reason=given.reason,
        photo_ids=list(given.photo_ids),
        at=now,
    )
    after = EFFECTS[action](ticket, given, actor, event, now, move.to)
    if after not in move.targets:  # the table is the whole truth: an effect may not add a target
        raise RuntimeError(f"{action.value} from {before} may not lead to {after}")
    ticket.status = after
    ticket.updated_at = now
    event.to_status = after.value
    return event


def _check_reason(action: Action, given: ActionInput) -> None:
    """A reason, where the action takes one, is one of its codes; required where it must be."""
    choices = REASONS.get(action)
    if choices is None or (not given.reason and action not in REASON_REQUIRED):
        return
    if given.reason not in choices:
        message = f"{ACTION_LABELS[action]}需要选择原因" if not given.reason else "未知的原因"
        raise Invalid(
            message, code="reason_required" if not given.reason else "unknown_reason",
            errors={"reason": ["可选：" + "、".join(choices.values())]},
        )


def _status_label(status: TicketStatus | None) -> str:
    from webapp.tickets.models import STATUS_LABELS

    return STATUS_LABELS.get(status, "新建")


REPORTER_ACTIONS = frozenset({Action.SUBMIT, Action.CONFIRM, Action.REOPEN})


def _hide_actor(ticket: Ticket, action: Action) -> bool:
    return wishes.hides_actor(ticket, by_author=action in REPORTER_ACTIONS)


def _event_role(ticket: Ticket, action: Action, actor: Actor | None) -> str:
    if actor is None:
        return SYSTEM_ROLE
    if action in REPORTER_ACTIONS:
        return REPORTER_ROLE
    return actor.primary_role


def _check_actor(ticket: Ticket, action: Action, actor: Actor | None) -> None:
    if action in {Action.AUTO_CLOSE}:
        if actor is not None:
            raise Forbidden()
        return
    if action is Action.SUBMIT:
        return
    if action is Action.UNASSIGN:  # tickets.handover: the account rule decided who may (no scope)
        if actor is not None and not actor.roles & SUPERVISOR_ROLES:
            raise Forbidden()
        return
    if actor is None:
        if action is Action.ESCALATE:  # the deadline command climbs the ladder
            return
        raise Forbidden()
    if action in {Action.CONFIRM, Action.REOPEN}:
        if not access.is_reporter(actor, ticket):
            if access.can_view_ticket(actor, ticket):
                raise Forbidden("只有反映人可以评价", code="not_reporter")
            raise NotFound("未找到该工单", code="ticket_not_found")
        return
    if not actor.is_staff:
        raise Forbidden("居民不能处理工单", code="staff_only")
    if not access.in_staff_scope(actor, ticket):
        raise NotFound("未找到该工单", code="ticket_not_found")
    if action in {Action.REASSIGN, Action.DISPATCH} and not _may_dispatch(actor, ticket):
        raise Forbidden("只有社区及以上工作人员可以派单、改派", code="supervisor_only")


def _may_dispatch(actor: Actor, ticket: Ticket) -> bool:
    if actor.roles & SUPERVISOR_ROLES:
        return True
    return wishes.is_reader(actor, ticket)


# --- effects: everything an action changes besides the status itself -------------------


# A submission routed to nobody waits in the community's queue (NOBODY_ROUTED), its clock not
# started: these columns stay empty. (PostgreSQL's submission statement decides the routing
# itself and writes the same: webapp/tickets/filing.py, file_routed.)
UNROUTED_STATUS = S.PENDING
CLOCK_COLUMNS = ("dispatched_at", "accept_due_at", "resolve_due_at")


def _effect_submit(ticket, given, actor, event, now, after):
    assignee_id, rule = given.routing or (None, "community_queue")
    event.rule = rule
    event.note = event.note or RULE_LABELS.get(rule)
    ticket.assignee_id = assignee_id
    if assignee_id is None:
        return UNROUTED_STATUS
    _start_clock(ticket, now, given.category)
    return after


def _start_clock(ticket: Ticket, now: datetime, category: Category | None = None) -> None:
    """The deadlines run from the first dispatch; handing the ticket on does not reset them."""
    if ticket.dispatched_at is None:
        ticket.dispatched_at = now
        ticket.accept_due_at, ticket.resolve_due_at = due_times(category or ticket.category, now)


def _staff_target(given: ActionInput, actor: Actor) -> Person:
    """The person a ticket is handed to: one of the actor's directory (people.directory)."""
    if not given.target:
        raise Invalid("请选择接收人", errors={"target": ["请选择接收人"]})
    person = db.session.get(Person, given.target)
    if person is None or not directory.is_assignable(actor, person.id):
        message = "接收人不存在，或不在您的管辖范围内"
        raise Invalid(message, code="target_not_assignable", errors={"target": [message]})
    return person


def _effect_dispatch(ticket, given, actor, event, now, after):
    person = _staff_target(given, actor)
    ticket.assignee_id = person.id
    event.rule = "manual"
    _start_clock(ticket, now)
    return after


def _effect_accept(ticket, given, actor, event, now, after):
    ticket.accepted_at = now
    if ticket.assignee_id is None:
        ticket.assignee_id = actor.person_id
    riders.credit_accepted_report(ticket)  # a rider's report accepted: points, once
    return after


def _effect_resolve(ticket, given, actor, event, now, after):
    if not (given.note or "").strip():
        raise Invalid("请填写处理结果", errors={"note": ["请填写处理结果"]})
    if ticket.kind is TicketKind.REPORT and not given.photo_ids:
        raise Invalid("办结随手拍需要上传处理后的照片", errors={"photo_ids": ["请上传处理后的照片"]})
    claim_photos(actor, given.photo_ids, ticket.id)
    ticket.resolved_at = now
    return after


def _effect_return(ticket, given, actor, event, now, after):
    ticket.return_count += 1
    ticket.accepted_at = None
    if ticket.return_count > MAX_RETURNS_TO_QUEUE:
        head = community_head(ticket.community_id)
        if head is not None:
            ticket.assignee_id = head
            ticket.level = "community"
            event.rule = "community_head"
            return S.DISPATCHED  # THIRD_RETURN
    ticket.assignee_id = None
    event.rule = "community_queue"
    return after


def _effect_reassign(ticket, given, actor, event, now, after):
    person = _staff_target(given, actor)
    if person.id == ticket.assignee_id:
        raise Invalid("接收人与当前处理人相同", errors={"target": ["请选择其他接收人"]})
    ticket.assignee_id = person.id
    ticket.accepted_at = None
    event.rule = "manual"
    _start_clock(ticket, now)
    return after


def _effect_escalate(ticket, given, actor, event, now, after):
    target = ladder.next_level(ticket, actor)
    ticket.level = target
    event.reason = event.reason or target
    event.note = event.note or f"上报至{LEVEL_LABELS[target]}"
    return after


def _effect_reject(ticket, given, actor, event, now, after):
    ticket.closed_at = now
    return after


def _effect_merge(ticket, given, actor, event, now, after):
    target = db.session.get(Ticket, given.target) if given.target else None
    if (
        target is None
        or target.id == ticket.id
        or target.building_id != ticket.building_id
        or target.kind is not ticket.kind
        or target.status not in (S.PENDING, S.DISPATCHED, S.ACCEPTED, S.RESOLVED)
    ):
        raise Invalid(
            "只能合并到同一楼栋正在办理的工单", errors={"target": ["请选择同一楼栋正在办理的工单"]}
        )
    ticket.merged_into_id = target.id
    ticket.closed_at = now
    target.me_too_count += 1
    return after


def _effect_confirm(ticket, given, actor, event, now, after):
    if given.rating is None or not 1 <= given.rating <= 5:
        raise Invalid("请给出1到5分的评价", errors={"rating": ["请给出1到5分的评价"]})
    ticket.rating = given.rating
    ticket.rating_comment = given.comment
    ticket.closed_at = now
    event.note = given.comment
    return after


def _effect_reopen(ticket, given, actor, event, now, after):
    ticket.reopen_count += 1
    ticket.resolved_at = None
    ticket.accepted_at = None
    if given.rating is not None:
        ticket.rating = given.rating
    event.note = given.comment
    # A new round of work for the same handler: fresh deadlines, warnings and overdue mark.
    ticket.dispatched_at = None
    ticket.warned_accept_at = ticket.warned_resolve_at = None
    ticket.is_overdue = False
    ticket.overdue_at = None
    if ticket.assignee_id is not None and not _on_duty(ticket.assignee_id):
        ticket.assignee_id = None  # the handler has left (people.accounts.deactivate)
        event.rule = "community_queue"
    _start_clock(ticket, now)
    if ticket.assignee_id is None:
        return S.PENDING  # NOBODY_HOLDS
    return after


def _on_duty(person_id: str) -> bool:
    return db.session.scalar(select(Person.deactivated_at).where(Person.id == person_id)) is None


def _effect_unassign(ticket, given, actor, event, now, after):
    ticket.assignee_id = None
    ticket.accepted_at = None
    event.rule = "community_queue"
    event.note = event.note or ACTION_LABELS[Action.UNASSIGN]
    return after


def _effect_auto_close(ticket, given, actor, event, now, after):
    ticket.closed_at = now
    ticket.rating = None
    event.note = "超过评价期限未评价，系统自动办结（不计入满意）"
    return after


EFFECTS = {
    Action.SUBMIT: _effect_submit,
    Action.DISPATCH: _effect_dispatch,
    Action.ACCEPT: _effect_accept,
    Action.RESOLVE: _effect_resolve,
    Action.RETURN: _effect_return,
    Action.REASSIGN: _effect_reassign,
    Action.ESCALATE: _effect_escalate,
    Action.REJECT: _effect_reject,
    Action.MERGE: _effect_merge,
    Action.CONFIRM: _effect_confirm,
    Action.REOPEN: _effect_reopen,
    Action.AUTO_CLOSE: _effect_auto_close,
    Action.UNASSIGN: _effect_unassign,
}
