"""Staff accounts at the domain level: who manages whom, create, roles, reset, leave, away."""
from __future__ import annotations

import pytest

from tests.factories import make_person, make_registry, session_headers
from webapp.audit.models import AuditEntry
from webapp.errors import Forbidden, Invalid, NotFound, Unauthorized
from webapp.extensions import db
from webapp.people import accounts, auth, directory, passwords
from webapp.people.accounts import Grant
from webapp.people.actors import load_actor
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.models import Community, Grid, Responsibility
from webapp.tickets import handover
from webapp.tickets.models import Ticket, TicketEvent, TicketStatus
from webapp.tickets.state_machine import Action, ActionInput, transition


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def admin(registry):
    person = make_person("管理员", code="P-ADM")
    db.session.add(StaffAssignment(person=person, role=Role.ADMIN))
    db.session.commit()
    return person


@pytest.fixture
def other_community(registry):
    """A second community of the same street, with a grid and its worker."""
    community = Community(code="FL-02", name="和平社区", street=registry.street)
    db.session.add(community)
    db.session.flush()
    worker = make_person("陈静", code="P-CJ")
    grid = Grid(code="FL-02-G1", name="和平网格", community=community, worker=worker)
    db.session.add_all([grid, StaffAssignment(person=worker, role=Role.GRID_WORKER, grid=grid)])
    db.session.commit()
    return community, grid, worker


def _actions(action: str) -> list[AuditEntry]:
    return db.session.query(AuditEntry).filter_by(action=action).all()


def test_community_staff_manage_only_their_communitys_people_and_grant_no_wider_roles(registry, other_community):
    head = load_actor(registry.community_staff.id)
    _community, other_grid, other_worker = other_community
    assert accounts.can_manage(head, registry.workers[0].id)
    assert not accounts.can_manage(head, other_worker.id)
    assert not accounts.can_manage(head, registry.professional.id)  # a department lies in no community
    with pytest.raises(NotFound):
        accounts.reset_password(head, other_worker.id)
    with pytest.raises(NotFound):
        accounts.deactivate(head, other_worker.id)
    for grants in ([Grant(Role.ADMIN)], [Grant(Role.STREET_STAFF, registry.street.id)],
                   [Grant(Role.GRID_WORKER, other_grid.id)]):
        with pytest.raises(Forbidden):
            accounts.create_staff(head, code="P-NEW", name="新人", phone=None, grants=grants)
        with pytest.raises(Forbidden):
            accounts.set_roles(head, registry.workers[0].id, grants)
    # A grid worker manages nobody.
    with pytest.raises(Forbidden):
        accounts.staff_list(load_actor(registry.workers[0].id))
    listed = {row.code for row in accounts.staff_list(head)}
    assert {"P-ZL", "P-WQ", "P-ZM"} <= listed and "P-CJ" not in listed and "P-LJG" not in listed


def test_create_staff_gives_roles_and_a_first_password_shown_once(registry, admin):
    actor = load_actor(admin.id)
    person, password = accounts.create_staff(
        actor, code="P021", name="新网格员", phone="13900001111",
        grants=[Grant(Role.GRID_WORKER, registry.grids[0].id), Grant(Role.WISH_READER, registry.community.id)],
    )
    db.session.commit()
    assert len(password) == passwords.GENERATED_LENGTH
    assert "P021" not in password and password not in str(person.password_hash)
    assert db.session.get(Grid, registry.grids[0].id).worker_id == person.id  # the grid's worker now
    signed = passwords.verify_sign_in("P021", password, "10.0.0.1")
    assert signed.actor.grid_ids == {registry.grids[0].id}
    entry = _actions("staff_created")[0]
    assert entry.actor_id == admin.id and entry.target_id == person.id and entry.detail["username"] == "P021"
    with pytest.raises(Invalid):  # the code is taken
        accounts.create_staff(actor, code="P021", name="重名", phone=None, grants=[Grant(Role.ADMIN)])


def test_set_roles_replaces_them_and_is_audited(registry, admin):
    worker = registry.workers[1]
    accounts.set_roles(load_actor(admin.id), worker.id, [Grant(Role.WISH_READER, registry.community.id)])
    db.session.commit()
    assert [a.role for a in db.session.query(StaffAssignment).filter_by(person_id=worker.id)] == [Role.WISH_READER]
    assert db.session.get(Grid, registry.grids[1].id).worker_id is None  # no longer its worker
    entry = _actions("staff_roles_set")[0]
    assert entry.detail["before"] == [f"grid_worker:{registry.grids[1].id}"]
    assert entry.detail["after"] == [f"wish_reader:{registry.community.id}"]


def test_reset_password_returns_a_new_one_and_the_old_one_stops_working(registry):
    worker = registry.workers[0]
    passwords.set_password(worker.code, "old-password-1")
    db.session.commit()
    version = db.session.get(Person, worker.id).session_version
    head = load_actor(registry.community_staff.id)
    _person, password = accounts.reset_password(head, worker.id)
    db.session.commit()
    with pytest.raises(passwords.SignInFailed):
        passwords.verify_sign_in(worker.code, "old-password-1", "10.0.0.2")
    assert passwords.verify_sign_in(worker.code, password, "10.0.0.2").actor.person_id == worker.id
    assert passwords.session_actor(worker.id, version) is None  # console sessions ended
    entry = [e for e in _actions("password_set") if e.actor_id == head.person_id][0]
    assert entry.detail["by"] == "console" and password not in str(entry.detail)


def _held_ticket(registry, status: TicketStatus, assignee: Person) -> Ticket:
    from datetime import timedelta

    from webapp.columns import new_id, utcnow

    now = utcnow()
    building = registry.buildings[0]
    ticket = Ticket(
        id=new_id(), number=f"JY-{new_id()[:8]}", kind=registry.categories["light"].kind, status=status,
        category_id=registry.categories["light"].id, building_id=building.id, grid_id=building.grid_id,
        community_id=registry.community.id, street_id=registry.street.id, description="楼道灯坏了",
        assignee_id=assignee.id, created_at=now, updated_at=now, dispatched_at=now,
        accept_due_at=now + timedelta(hours=2), resolve_due_at=now + timedelta(hours=72),
    )
    db.session.add(ticket)
    db.session.flush()
    return ticket


def test_deactivation_hands_back_open_tickets_and_ends_every_way_in(app, registry):
    worker = registry.workers[0]
    passwords.set_password(worker.code, "worker-password-1")
    headers = session_headers(worker)
    token = headers["Authorization"].split()[1]
    dispatched = _held_ticket(registry, TicketStatus.DISPATCHED, worker)
    accepted = _held_ticket(registry, TicketStatus.ACCEPTED, worker)
    resolved = _held_ticket(registry, TicketStatus.RESOLVED, worker)
    registry.grids[1].standin_id = worker.id
    db.session.commit()
    head = load_actor(registry.community_staff.id)

    person = accounts.deactivate(head, worker.id)
    released = handover.release_tickets_of(person.id, head)
    db.session.commit()

    assert {t.id for t in released} == {dispatched.id, accepted.id}
    for ticket in (dispatched, accepted):
        db.session.refresh(ticket)
        assert ticket.status is TicketStatus.PENDING and ticket.assignee_id is None
        event = db.session.query(TicketEvent).filter_by(ticket_id=ticket.id, action="unassign").one()
        assert event.actor_id == head.person_id and event.to_status == "pending"
        assert event.note == "人员离岗，退回派单"
    assert db.session.get(Ticket, resolved.id).status is TicketStatus.RESOLVED
    assert db.session.get(Grid, registry.grids[0].id).worker_id is None
    assert db.session.get(Grid, registry.grids[1].id).standin_id is None
    with pytest.raises(passwords.SignInFailed):
        passwords.verify_sign_in(worker.code, "worker-password-1", "10.0.0.3")
    with pytest.raises(Unauthorized):
        auth.authenticate(token)
    # A fresh WeChat login finds a resident, not staff.
    fresh = session_headers(worker)["Authorization"].split()[1]
    assert not auth.authenticate(fresh).is_staff
    assert worker.id not in {e.id for e in directory.assignable_staff(head)}
    entry = _actions("staff_deactivated")[0]
    assert entry.detail["revoked_tokens"] == 1 and entry.detail["left_grids"] == ["FL-01-G1"]
    with pytest.raises(Invalid):
        accounts.set_roles(head, worker.id, [Grant(Role.GRID_WORKER, registry.grids[0].id)])
    with pytest.raises(Invalid):  # nobody deactivates themselves
        accounts.deactivate(head, head.person_id)


def test_unassign_is_for_supervisors_or_the_system_only(registry):
    worker = registry.workers[0]
    ticket = _held_ticket(registry, TicketStatus.DISPATCHED, worker)
    with pytest.raises(Forbidden):
        transition(ticket, Action.UNASSIGN, load_actor(registry.workers[1].id), ActionInput())
    transition(ticket, Action.UNASSIGN, None, ActionInput())
    assert ticket.status is TicketStatus.PENDING and ticket.assignee_id is None


def test_away_with_a_stand_in_sets_the_grid_and_matrix_stand_ins_and_back_clears_away(registry):
    head = load_actor(registry.community_staff.id)
    worker, other = registry.workers
    with pytest.raises(Invalid):  # not themselves
        accounts.set_away(head, worker.id, standin_id=worker.id)
    accounts.set_away(head, worker.id, standin_id=other.id)
    db.session.commit()
    assert db.session.get(Person, worker.id).is_away
    assert db.session.get(Grid, registry.grids[0].id).standin_id == other.id
    row = accounts.staff_row(head, worker.id)
    assert row.status_label == "请假，代班人：王强"
    accounts.set_back(head, worker.id)
    db.session.commit()
    assert accounts.staff_row(head, worker.id).status_label == "在岗"
    assert [e.detail["standin"] for e in _actions("staff_away")] == ["P-WQ"]
    assert len(_actions("staff_back")) == 1


def test_away_professional_hands_matrix_rows_to_their_stand_in(registry, admin):
    accounts.set_away(load_actor(admin.id), registry.professional.id, standin_id=registry.workers[1].id)
    db.session.commit()
    standins = {r.standin_id for r in db.session.query(Responsibility).filter_by(person_id=registry.professional.id)}
    assert standins == {registry.workers[1].id}


def test_work_phone_and_its_publication(registry):
    head = load_actor(registry.community_staff.id)
    with pytest.raises(Invalid):
        accounts.set_work_phone(head, registry.workers[0].id, work_phone="call me", publish=True)
    with pytest.raises(Invalid):
        accounts.set_work_phone(head, registry.workers[0].id, work_phone="", publish=True)
    accounts.set_work_phone(head, registry.workers[0].id, work_phone="0530-8231234", publish=True)
    db.session.commit()
    person = db.session.get(Person, registry.workers[0].id)
    assert person.work_phone == "0530-8231234" and person.publish_phone
    assert _actions("staff_phone_set")[0].detail["after"] == ["0530-8231234", True]


def test_a_reopened_ticket_of_someone_who_left_waits_in_the_queue(registry):
    """A resolved ticket stays with its handler when they leave; if its reporter then says it is
    not fixed, it goes back to the community's queue, not to the person who left."""
    worker = registry.workers[0]
    reporter = make_person("居民", "13900000005")
    resolved = _held_ticket(registry, TicketStatus.RESOLVED, worker)
    resolved.reporter_id = reporter.id
    db.session.commit()
    head = load_actor(registry.community_staff.id)
    accounts.deactivate(head, worker.id)
    db.session.commit()

    event = transition(resolved, Action.REOPEN, load_actor(reporter.id), ActionInput(rating=1, comment="还是不亮"))
    db.session.commit()
    assert resolved.status is TicketStatus.PENDING and resolved.assignee_id is None
    assert event.to_status == "pending"
