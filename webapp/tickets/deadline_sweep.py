"""The deadline command: warn before deadlines, flag overdue tickets, climb the ladder, auto-close.

run_deadlines(now) is meant to run every minute (cron or a worker loop). Each pass does four
steps, each over the few tickets whose moment has come, found by ordered range scans of small
partial indexes (models.tickets.DEADLINE_SQL), never by scanning the open tickets:

1. auto-close: a ticket resolved more than AUTO_CLOSE_DAYS ago that its reporter never rated
   is closed through the state machine (Action.AUTO_CLOSE): unrated, never counted satisfied.
2. newly overdue: a ticket not accepted by accept_due_at (pending, dispatched) or not resolved
   by resolve_due_at (accepted) is overdue since that deadline. At level grid it climbs to
   community at once (to street at once if already overdue for a whole step); at any other
   level it only gets the is_overdue flag (and overdue_at), in one UPDATE per batch. The flag
   records a missed deadline; it is not a status and is never cleared here.
3. the next rung: a ticket at level community that is overdue for ESCALATION_STEP_HOURS more
   climbs to street, the step counted the way its category counts (clock or working hours).
   The department rung is never reached here: only street staff summon a department (吹哨).
   A wish stops at its community (ladder.top_level; ladder.may_reach_clause keeps it out of
   this step). Every climb is one Action.ESCALATE through state_machine.transition with actor
   None; the state machine's notices (notices.on_transition) tell the new rung's staff
   (ladder.supervisors), once per level ("escalated:<id>:<level>:<person>"), and this command
   tells the handler ("ticket_overdue", "overdue:<id>:<level>").
4. warnings: the handler (or, for a ticket waiting in the community queue, its community
   staff) is warned once per deadline when DEADLINE_WARNING_FRACTION of its window has passed,
   i.e. when no more than (1 - fraction) × accept_hours / resolve_hours remain, counted in the
   category's own hours: the accept deadline while unaccepted (pending, dispatched), the
   resolve deadline once accepted ("warn_accept:<id>:<due>", "warn_resolve:<id>:<due>"). A
   deadline already missed gets no warning: the ladder speaks instead.

Safe to run twice at once. Work goes in batches of DEADLINE_BATCH_SIZE, each its own
transaction: on PostgreSQL a batch's rows are taken with FOR UPDATE SKIP LOCKED, so concurrent
runs split the work instead of waiting on each other. SQLite has no row locks and one writer at
a time: a second run there may stop on "database is locked" and the next run carries on.
Handled rows leave their candidate index in the batch that handles them, and every notice
carries a dedupe key, so nothing is done or sent twice. A ticket that fails (changed meanwhile:
StaleDataError, or a transition the state machine refuses) is rolled back alone to its
savepoint and left for the next run; the rest of the batch goes on.

Flags are written with plain UPDATEs that keep the ticket's version and updated_at, so a
worker's concurrent accept is never refused because of a warning; escalation and auto-close go
through the ORM and the state machine, with the version check.

A reporter's reopen starts a new round (state_machine: fresh deadlines, warnings and overdue
mark), so the second round is warned and climbs like the first.
"""
from __future__ import annotations

import time as clock
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from webapp.columns import utcnow
from webapp.errors import DomainError
from webapp.extensions import db
from webapp.notifications.outbox import enqueue
from webapp.people.models import Role, StaffAssignment
from webapp.registry.models import Category
from webapp.tickets import ladder
from webapp.tickets.deadlines import add_hours, subtract_hours, warning_lead_hours
from webapp.tickets.ladder import AUTOMATIC_LEVELS, LEVEL_LABELS, UNACCEPTED, rung
from webapp.tickets.models import DEADLINE_SQL, Ticket
from webapp.tickets.state_machine import Action, ActionInput, transition


WARN_ACCEPT_NOTE = "距接单时限不多了，请尽快接单"
WARN_RESOLVE_NOTE = "距办结时限不多了，请尽快办理"


@dataclass
class DeadlineReport:
    """What one run did; summary() says it in Chinese for the log and the console."""

    now: datetime
    auto_closed: int = 0
    escalated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    marked_overdue: int = 0
    warned_accept: int = 0
    warned_resolve: int = 0
    messages: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return (
            self.auto_closed + sum(self.escalated.values()) + self.marked_overdue
            + self.warned_accept + self.warned_resolve
        )

    def summary(self) -> str:
        from zoneinfo import ZoneInfo

        at = self.now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
        climbed = "、".join(
            f"升至{LEVEL_LABELS[level]} {self.escalated.get(level, 0)} 件" for level in AUTOMATIC_LEVELS
        )
        lines = [
            f"时限检查（{at}）用时 {self.seconds:.2f} 秒",
            f"  临期提醒：接单 {self.warned_accept} 件，办结 {self.warned_resolve} 件",
            f"  新标记超期：{self.marked_overdue} 件",
            f"  逐级督办：{climbed}",
            f"  超期未评价自动办结：{self.auto_closed} 件（不计入满意）",
            f"  写入提醒（临期、超期）：{self.messages} 条",
        ]
        if self.skipped:
            lines.append(f"  跳过（工单正被他人处理，下次重试）：{self.skipped} 件")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Settings:
    fraction: float
    step_hours: float
    auto_close_after: timedelta
    batch: int

    @classmethod
    def from_config(cls) -> "_Settings":
        config = current_app.config
        fraction = float(config.get("DEADLINE_WARNING_FRACTION", 0.8))
        if not 0 < fraction < 1:
            raise ValueError("DEADLINE_WARNING_FRACTION must be between 0 and 1")
        return cls(
            fraction=fraction,
            step_hours=float(config.get("ESCALATION_STEP_HOURS", 24)),
            auto_close_after=timedelta(days=float(config.get("AUTO_CLOSE_DAYS", 7))),
            batch=int(config.get("DEADLINE_BATCH_SIZE", 500)),
        )


def run_deadlines(now: datetime | None = None) -> DeadlineReport:
    """One pass of the deadline command at `now` (default: the current time).

    Commits after every batch (it is a job, not a request); rolls back and re-raises only on
    an error that is not about one ticket (e.g. the database went away).
    """
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    started = clock.perf_counter()
    settings = _Settings.from_config()
    report = DeadlineReport(now=now)
    categories = list(db.session.execute(
        select(Category.id, Category.uses_workdays, Category.accept_hours, Category.resolve_hours)
    ))
    db.session.commit()
    try:
        _auto_close(now, settings, report)
        _newly_overdue(now, settings, report)
        _climb_to_street(now, settings, categories, report)
        _warn(now, settings, categories, report)
    except BaseException:
        db.session.rollback()
        raise
    report.seconds = clock.perf_counter() - started
    return report


# --- candidates ---------------------------------------------------------------------------


def _sql(name: str):
    """One condition of the partial indexes, stated literally (see DEADLINE_SQL)."""
    return text(DEADLINE_SQL[name])


def _candidates(conditions, order_by, batch: int, skip: set[str], *columns):
    """A batch of tickets matching `conditions`, in index order, locked for this transaction.

    Rows another run holds are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite ignores
    it and serializes writers instead). The ordered LIMIT keeps the planner on the partial
    index even when it overestimates the matches.
    """
    query = select(Ticket.id, *columns).where(*conditions)
    if skip:
        query = query.where(Ticket.id.not_in(skip))
    query = query.order_by(order_by).limit(batch).with_for_update(skip_locked=True)
    return db.session.execute(query).all()


def _load(ids: list[str]) -> list[Ticket]:
    """The tickets with what the state machine and the notices read, in a few queries."""
    return list(
        db.session.scalars(
            select(Ticket)
            .where(Ticket.id.in_(ids))
            .options(
                selectinload(Ticket.category),
                selectinload(Ticket.building),
            )
            .order_by(Ticket.id)
        )
    )


def _per_ticket(tickets: list[Ticket], work, report: DeadlineReport, skip: set[str]) -> None:
    """Run work(ticket) for each ticket in its own savepoint; a failure skips that ticket only.

    work returns a function that counts what it did on the report (called once the savepoint
    is released, so a rolled-back ticket counts nothing), or None when it did nothing.
    """
    for ticket in tickets:
        try:
            with db.session.begin_nested():
                count = work(ticket)
        except (StaleDataError, DomainError, DBAPIError) as error:
            current_app.logger.warning("deadline command skipped ticket %s: %r", ticket.id, error)
            count = None
        if count is None:
            report.skipped += 1
            skip.add(ticket.id)
        else:
            count(report)


# The two deadlines: (status condition, due column, warned column, "not yet warned" condition).
DEADLINES = {
    "accept": ("unaccepted", Ticket.accept_due_at, Ticket.warned_accept_at, "unwarned_accept"),
    "resolve": ("accepted", Ticket.resolve_due_at, Ticket.warned_resolve_at, "unwarned_resolve"),
}


# --- 1. auto-close ------------------------------------------------------------------------


def _auto_close(now: datetime, settings: _Settings, report: DeadlineReport) -> None:
    cutoff = now - settings.auto_close_after
    conditions = (_sql("resolved"), Ticket.resolved_at <= cutoff)
    skip: set[str] = set()

    def close(ticket: Ticket):
        transition(ticket, Action.AUTO_CLOSE, None, now=now)

        def count(report: DeadlineReport) -> None:
            report.auto_closed += 1

        return count

    while rows := _candidates(conditions, Ticket.resolved_at, settings.batch, skip):
        _per_ticket(_load([row.id for row in rows]), close, report, skip)
        db.session.commit()


# --- 2, 3. overdue: the ladder and the flag -----------------------------------------------


def _climber(now: datetime, settings: _Settings):
    """work(ticket) for _per_ticket: climb to the level the overdue time calls for."""

    def climb(ticket: Ticket):
        target = ladder.overdue_target(ticket, now, settings.step_hours)
        if target is None or rung(ticket.level) >= rung(target):
            return None
        missed = "接单" if ticket.status in UNACCEPTED else "办结"
        if not ticket.is_overdue:
            ticket.is_overdue = True
            ticket.overdue_at = now
        reached, messages = [], 0
        while rung(ticket.level) < rung(target):
            label = LEVEL_LABELS[ladder.next_level(ticket, None)]
            note = f"超过{missed}时限，系统自动上报至{label}督办"
            transition(ticket, Action.ESCALATE, None, ActionInput(note=note), now=now)
            reached.append(ticket.level)
            # The new rung's staff hear it from notices.on_transition; the handler here.
            if enqueue(
                ticket.assignee_id,
                "ticket_overdue",
                ticket=ticket,
                data={"note": f"工单已超期，已上报至{label}督办"},
                dedupe_key=f"overdue:{ticket.id}:{ticket.level}",
                now=now,
            ):
                messages += 1

        def count(report: DeadlineReport) -> None:
            for level in reached:
                report.escalated[level] += 1
            report.messages += messages

        return count

    return climb


def _newly_overdue(now: datetime, settings: _Settings, report: DeadlineReport) -> None:
    """Tickets that missed a deadline since the last run. At level grid they climb (and are
    flagged as they do); at any other level only the flag is set, in one UPDATE per batch.

    Only the ladder flags a ticket at level grid, and levels never go back down, so every
    grid-level ticket that is past a deadline is still unflagged: this one range finds them.
    """
    climb = _climber(now, settings)
    for status, due, _warned, _unwarned in DEADLINES.values():
        conditions = (_sql("not_overdue"), _sql(status), due <= now)
        skip: set[str] = set()
        while rows := _candidates(conditions, due, settings.batch, skip, Ticket.level):
            climbing = [row.id for row in rows if row.level == "grid"]
            flagged = [row.id for row in rows if row.level != "grid"]
            if flagged:
                db.session.execute(
                    update(Ticket)
                    .where(Ticket.id.in_(flagged))
                    .values(is_overdue=True, overdue_at=now, updated_at=Ticket.updated_at)
                    .execution_options(synchronize_session=False)
                )
                report.marked_overdue += len(flagged)
            if climbing:
                _per_ticket(_load(climbing), climb, report, skip)
            db.session.commit()


def _climb_to_street(now: datetime, settings: _Settings, categories, report: DeadlineReport) -> None:
    """Tickets at level community overdue for another ESCALATION_STEP_HOURS climb to street
    (counted in the category's own hours)."""
    climb = _climber(now, settings)
    for uses_workdays in (False, True):
        ids = [c.id for c in categories if bool(c.uses_workdays) is uses_workdays]
        if not ids:
            continue
        threshold = subtract_hours(now, settings.step_hours, uses_workdays=uses_workdays)
        for status, due, _warned, _unwarned in DEADLINES.values():
            conditions = (
                _sql("at_community"), _sql(status), due <= threshold, Ticket.category_id.in_(ids),
                ladder.may_reach_clause("street"),  # a wish stays with its community
            )
            skip: set[str] = set()
            while rows := _candidates(conditions, due, settings.batch, skip):
                _per_ticket(_load([row.id for row in rows]), climb, report, skip)
                db.session.commit()


# --- 4. warnings --------------------------------------------------------------------------


def _warn(now: datetime, settings: _Settings, categories, report: DeadlineReport) -> None:
    """Per category: one ordered range of its unwarned tickets due before its threshold."""
    for which, (status, due, warned, unwarned) in DEADLINES.items():
        for category in categories:
            window = category.accept_hours if which == "accept" else category.resolve_hours
            lead = warning_lead_hours(window, settings.fraction)
            warn_until = add_hours(now, lead, uses_workdays=bool(category.uses_workdays))
            conditions = (
                _sql(unwarned), _sql(status), Ticket.category_id == category.id, due <= warn_until
            )
            while True:
                ids = [row.id for row in _candidates(conditions, due, settings.batch, set())]
                if not ids:
                    break
                rows = db.session.execute(
                    update(Ticket)
                    .where(Ticket.id.in_(ids))
                    .values({warned: now, Ticket.updated_at: Ticket.updated_at})
                    .returning(Ticket.id, due)
                    .execution_options(synchronize_session=False)
                ).all()
                # Only deadlines still ahead are worth a warning; missed ones leave the index.
                upcoming = {row[0]: row[1] for row in rows if row[1] > now}
                if upcoming:
                    _send_warnings(which, upcoming, now, report)
                db.session.commit()
                if len(ids) < settings.batch:
                    break


def _send_warnings(which: str, due_by_id: dict[str, datetime], now, report) -> None:
    tickets = db.session.scalars(
        select(Ticket)
        .where(Ticket.id.in_(list(due_by_id)))
        .options(selectinload(Ticket.category), selectinload(Ticket.building))
    )
    note = WARN_ACCEPT_NOTE if which == "accept" else WARN_RESOLVE_NOTE
    staff_cache: dict[int, list[str]] = {}
    for ticket in tickets:
        due = due_by_id[ticket.id]
        if ticket.assignee_id:
            recipients = [ticket.assignee_id]
        else:  # waiting in the community's queue: its dispatchers are the ones to act
            if ticket.community_id not in staff_cache:
                staff_cache[ticket.community_id] = community_staff(ticket.community_id)
            recipients = staff_cache[ticket.community_id]
        for person_id in recipients:
            key = f"warn_{which}:{ticket.id}:{due.isoformat()}"
            if len(recipients) > 1:
                key += f":{person_id}"
            if enqueue(
                person_id,
                "deadline_warning",
                ticket=ticket,
                data={"note": note, "time": due},
                dedupe_key=key,
                now=now,
            ):
                report.messages += 1
        if which == "accept":
            report.warned_accept += 1
        else:
            report.warned_resolve += 1


def community_staff(community_id: int) -> list[str]:
    return sorted(
        db.session.scalars(
            select(StaffAssignment.person_id)
            .where(
                StaffAssignment.role == Role.COMMUNITY_STAFF,
                StaffAssignment.community_id == community_id,
            )
            .distinct()
        )
    )
