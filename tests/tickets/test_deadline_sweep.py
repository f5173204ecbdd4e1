"""The deadline command over the demo street: warnings, overdue flags, the ladder, auto-close.

The story: on Monday 2026-11-23 at 09:00 residents file 50 reports across the street's 30
buildings. Some are handled on time, some accepted late, some never; some are fixed and never
rated. The command runs at moved clocks (each time twice, as cron and a stray worker might),
and each time the right tickets are overdue at the right level and the right people have
exactly one message.
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from webapp.demo import SAMPLE_CSV_DIR
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.people.actors import load_actor
from webapp.people.models import Person
from webapp.registry.codes import active_code, issue_missing_codes
from webapp.registry.importer import import_registry_file
from webapp.registry.models import Building, Community
from webapp.tickets import deadline_sweep, submission
from webapp.tickets.deadline_sweep import run_deadlines
from webapp.tickets.deadlines import SHANGHAI
from webapp.tickets.models import Photo, Ticket, TicketEvent, TicketStatus
from webapp.tickets.state_machine import Action, ActionInput, transition

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # a Monday, no holiday near


@dataclass
class Street:
    buildings: list[Building]
    people: dict[str, str]  # person code → id
    community_staff: dict[int, str]  # community id → its staff member
    street_staff: str
    residents: list[str]


@pytest.fixture
def street(app_ctx) -> Street:
    report = import_registry_file(SAMPLE_CSV_DIR)
    assert report.ok, [str(e) for e in report.errors]
    issue_missing_codes()
    residents = [Person(name=f"居民{i}", openid=f"resident-{i}") for i in range(5)]
    db.session.add_all(residents)
    db.session.commit()
    people = dict(db.session.execute(select(Person.code, Person.id).where(Person.code.is_not(None))).all())
    communities = dict(db.session.execute(select(Community.code, Community.id)).all())
    return Street(
        buildings=list(db.session.scalars(select(Building).order_by(Building.code))),
        people=people,
        community_staff={communities["FH-01"]: people["P003"], communities["FH-02"]: people["P004"]},
        street_staff=people["P002"],
        residents=[r.id for r in residents],
    )


def file_report(monkeypatch, street: Street, index: int, building: Building, category: str, at: datetime) -> Ticket:
    monkeypatch.setattr(submission, "utcnow", lambda: at)
    reporter = load_actor(street.residents[index % len(street.residents)])
    filed = submission.submit_ticket(
        reporter,
        submission.Submission(
            code=active_code(building.id).code, kind="report", category=category,
            description=f"第{index + 1}号反映：楼道里的问题已经好几天了",
        ),
        str(uuid.uuid4()),
    )
    assert filed.created and filed.ticket.status is TicketStatus.DISPATCHED
    return filed.ticket


def accept(ticket: Ticket, at: datetime) -> None:
    transition(ticket, Action.ACCEPT, load_actor(ticket.assignee_id), now=at)


def resolve(ticket: Ticket, at: datetime) -> None:
    photo = Photo(
        sha256=uuid.uuid4().hex * 2, content_type="image/jpeg", width=1, height=1, byte_size=1,
        uploader_id=ticket.assignee_id,
    )
    db.session.add(photo)
    db.session.flush()
    transition(
        ticket, Action.RESOLVE, load_actor(ticket.assignee_id),
        ActionInput(note="已处理", photo_ids=[photo.id]), now=at,
    )


def messages(kind: str) -> Counter:
    """(ticket id, person id) → how many messages of this kind."""
    rows = db.session.execute(
        select(OutboxMessage.ticket_id, OutboxMessage.person_id).where(OutboxMessage.kind == kind)
    )
    return Counter((t, p) for t, p in rows)


def outbox_count() -> int:
    return db.session.scalar(select(func.count(OutboxMessage.id)))


def run_twice(at: datetime):
    """The command at `at`, then again at once: the second run finds nothing left to do."""
    first = run_deadlines(at.astimezone(SHANGHAI))
    written = outbox_count()
    second = run_deadlines(at)
    assert second.changed == 0 and second.messages == 0
    assert outbox_count() == written
    return first


def state(ids: list[str]) -> set[tuple[str, bool]]:
    db.session.expire_all()
    return {(t.level, t.is_overdue) for t in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}


def test_scripted_day_over_the_demo_street(street, monkeypatch):
    # --- 09:00: fifty reports; light: accept 2 h / resolve 48 h, elevator: 1 h / 24 h --------
    elevator_buildings = [b for b in street.buildings if not b.code.startswith("FH-01-G3")]
    groups: dict[str, list[Ticket]] = {}
    plan = [("on_time", 10, "light"), ("unrated", 10, "light"), ("warned", 5, "light"),
            ("late", 10, "light"), ("never", 10, "light"), ("elevator", 5, "elevator")]
    index = 0
    for group, count, category in plan:
        pool = elevator_buildings if category == "elevator" else street.buildings
        groups[group] = [
            file_report(monkeypatch, street, index + i, pool[(index + i) % len(pool)], category, T0)
            for i in range(count)
        ]
        index += count
    assert sum(len(g) for g in groups.values()) == 50
    ids = {name: [t.id for t in tickets] for name, tickets in groups.items()}
    handler = {t.id: t.assignee_id for tickets in groups.values() for t in tickets}
    community_of = {t.id: street.community_staff[t.community_id] for g in groups.values() for t in g}
    for ticket in groups["on_time"] + groups["unrated"]:
        accept(ticket, T0 + timedelta(minutes=30))
        resolve(ticket, T0 + timedelta(hours=1))
    for ticket in groups["on_time"]:
        transition(ticket, Action.CONFIRM, load_actor(ticket.reporter_id), ActionInput(rating=5),
                   now=T0 + timedelta(hours=2))
    db.session.commit()

    # --- 10:45: 80 % of the light tickets' accept window gone; the elevator ones are late ----
    first = run_twice(T0 + timedelta(hours=1, minutes=45))
    unaccepted_light = ids["warned"] + ids["late"] + ids["never"]
    assert first.warned_accept == len(unaccepted_light)
    warnings = messages("deadline_warning")
    assert warnings == Counter({(t, handler[t]): 1 for t in unaccepted_light})
    assert state(ids["elevator"]) == {("community", True)}
    assert state(unaccepted_light) == {("grid", False)}

    for ticket in groups["warned"]:
        accept(ticket, T0 + timedelta(hours=1, minutes=50))
    db.session.commit()

    # --- 12:00: the late and never-accepted light tickets missed 11:00 -----------------------
    second = run_twice(T0 + timedelta(hours=3))
    assert second.escalated["community"] == 20
    assert second.marked_overdue == 0  # flagged as they climbed
    assert state(ids["late"] + ids["never"]) == {("community", True)}
    assert state(ids["warned"] + ids["on_time"] + ids["unrated"]) == {("grid", False)}
    escalated = messages("ticket_escalated")
    climbed = ids["elevator"] + ids["late"] + ids["never"]
    assert escalated == Counter({(t, community_of[t]): 1 for t in climbed})
    assert messages("ticket_overdue") == Counter({(t, handler[t]): 1 for t in climbed})

    for ticket in groups["late"]:
        accept(ticket, T0 + timedelta(hours=3, minutes=30))  # late, but at last
    db.session.commit()

    # --- next day 12:00: overdue for over a day more → the street ----------------------------
    third = run_twice(T0 + timedelta(hours=27))
    assert third.escalated == {"street": 15}
    assert state(ids["never"] + ids["elevator"]) == {("street", True)}
    assert state(ids["late"]) == {("community", True)}  # accepted: its resolve clock runs
    escalated = messages("ticket_escalated")
    for ticket_id in ids["never"] + ids["elevator"]:
        assert escalated[(ticket_id, street.street_staff)] == 1
        assert escalated[(ticket_id, community_of[ticket_id])] == 1
    for ticket_id in ids["late"]:
        assert escalated[(ticket_id, street.street_staff)] == 0

    # --- day 2, 01:00: 80 % of the accepted ones' 48-hour resolve window gone ----------------
    fourth = run_twice(T0 + timedelta(hours=40))
    assert fourth.warned_resolve == 15
    warnings = messages("deadline_warning")
    for ticket_id in ids["warned"] + ids["late"]:
        assert warnings[(ticket_id, handler[ticket_id])] == 2  # accept, then resolve

    # --- a week on: fixed but never rated → closed, unrated -----------------------------------
    fifth = run_twice(T0 + timedelta(days=8))
    assert fifth.auto_closed == 10
    db.session.expire_all()
    for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids["unrated"]))):
        assert ticket.status is TicketStatus.CLOSED
        assert ticket.rating is None  # never counted satisfied
        assert ticket.events[-1].action == "auto_close"
        assert ticket.events[-1].actor_role == "system"
    closed = messages("ticket_closed")
    assert sum(closed[(t, p)] for t in ids["unrated"] for p in street.residents) == 10
    for ticket in db.session.scalars(select(Ticket).where(Ticket.id.in_(ids["on_time"]))):
        assert (ticket.status, ticket.rating, ticket.is_overdue) == (TicketStatus.CLOSED, 5, False)
    # Everyone still open is now far past the resolve deadline: all at the street, no further.
    assert state(ids["warned"] + ids["late"] + ids["never"] + ids["elevator"]) == {("street", True)}

    # No escalation event was written twice for the same rung.
    rungs = db.session.execute(
        select(TicketEvent.ticket_id, TicketEvent.reason, func.count())
        .where(TicketEvent.action == "escalate")
        .group_by(TicketEvent.ticket_id, TicketEvent.reason)
    ).all()
    assert rungs and all(count == 1 for _, _, count in rungs)
    keys = db.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.is_not(None))).all()
    assert len(keys) == len(set(keys))


def test_workday_category_warns_and_climbs_in_working_hours(street, monkeypatch):
    """环境卫生 counts working days: 24 working hours to accept, across National Day."""
    building = street.buildings[0]
    ticket = file_report(monkeypatch, street, 0, building, "sanitation", datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI))
    assert ticket.accept_due_at == datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI)
    db.session.commit()
    ticket_id = ticket.id

    # 80 % of the clock window is gone on 6 October, but a holiday runs no working hours.
    assert run_deadlines(datetime(2026, 10, 7, 23, 0, tzinfo=SHANGHAI)).warned_accept == 0
    # 4.8 working hours before 10:00 on the 8th: 05:12.
    assert run_deadlines(datetime(2026, 10, 8, 5, 11, tzinfo=SHANGHAI)).warned_accept == 0
    assert run_deadlines(datetime(2026, 10, 8, 5, 12, tzinfo=SHANGHAI)).warned_accept == 1
    assert run_deadlines(datetime(2026, 10, 8, 10, 1, tzinfo=SHANGHAI)).escalated == {"community": 1}
    # One step (24 working hours) later: Friday the 9th 10:00, not a minute before.
    assert run_deadlines(datetime(2026, 10, 9, 9, 59, tzinfo=SHANGHAI)).changed == 0
    assert run_deadlines(datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)).escalated == {"street": 1}
    assert db.session.get(Ticket, ticket_id).level == "street"


def test_ticket_waiting_in_the_community_queue_warns_its_community_staff(street, monkeypatch):
    building = street.buildings[0]
    ticket = file_report(monkeypatch, street, 0, building, "light", T0)
    transition(ticket, Action.RETURN, load_actor(ticket.assignee_id), ActionInput(reason="wrong_grid"),
               now=T0 + timedelta(minutes=10))
    assert ticket.status is TicketStatus.PENDING and ticket.assignee_id is None
    db.session.commit()
    report = run_deadlines(T0 + timedelta(hours=1, minutes=40))
    assert report.warned_accept == 1
    assert messages("deadline_warning") == Counter({(ticket.id, street.community_staff[ticket.community_id]): 1})


def test_one_ticket_that_changed_meanwhile_is_skipped_not_fatal(street, monkeypatch):
    tickets = [file_report(monkeypatch, street, i, street.buildings[i], "light", T0) for i in range(3)]
    db.session.commit()
    unlucky = tickets[1].id
    real_transition = deadline_sweep.transition

    def flaky(ticket, action, actor, given=None, *, now=None):
        if ticket.id == unlucky:
            raise StaleDataError("changed by a worker meanwhile")
        return real_transition(ticket, action, actor, given, now=now)

    monkeypatch.setattr(deadline_sweep, "transition", flaky)
    report = run_deadlines(T0 + timedelta(hours=3))
    assert report.escalated == {"community": 2} and report.skipped == 1
    assert db.session.get(Ticket, unlucky).level == "grid"

    monkeypatch.setattr(deadline_sweep, "transition", real_transition)
    assert run_deadlines(T0 + timedelta(hours=3, minutes=1)).escalated == {"community": 1}
    db.session.expire_all()
    assert {t.level for t in db.session.scalars(select(Ticket))} == {"community"}


def test_deadlines_command_prints_a_chinese_summary(street, monkeypatch, runner):
    file_report(monkeypatch, street, 0, street.buildings[0], "light", T0)
    db.session.commit()
    result = runner.invoke(args=["deadlines", "run", "--now", "2026-11-23T12:00:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "升至社区 1 件" in result.output
    assert "时限检查（2026-11-23 12:00）" in result.output
    bad = runner.invoke(args=["deadlines", "run", "--now", "2026-11-23T12:00:00"])
    assert bad.exit_code != 0 and "时区" in bad.output


@pytest.mark.postgres
def test_concurrent_runs_split_the_work_and_notify_once(app, street, monkeypatch):
    """Two runs at once (threads, each with its own app context and session) on PostgreSQL."""
    count = 120
    for i in range(count):
        file_report(monkeypatch, street, i, street.buildings[i % len(street.buildings)], "light", T0)
    db.session.commit()
    monkeypatch.setitem(app.config, "DEADLINE_BATCH_SIZE", 7)
    at = T0 + timedelta(hours=27)  # every ticket climbs grid → community → street
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                reports.append(run_deadlines(at))
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert all(r.changed for r in reports)  # SKIP LOCKED: both runs took a share
    assert sum(r.escalated["community"] for r in reports) == count
    assert sum(r.escalated["street"] for r in reports) == count
    db.session.expire_all()
    rungs = db.session.execute(
        select(TicketEvent.ticket_id, TicketEvent.reason, func.count())
        .where(TicketEvent.action == "escalate")
        .group_by(TicketEvent.ticket_id, TicketEvent.reason)
    ).all()
    assert len(rungs) == 2 * count and all(n == 1 for _, _, n in rungs)
    escalated = messages("ticket_escalated")
    assert len(escalated) == 2 * count and set(escalated.values()) == {1}
    overdue = messages("ticket_overdue")
    assert sum(overdue.values()) == 2 * count
