"""Riders: invites, enrolment, approval, the rider role, stats and points."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import make_person, make_registry, session_headers
from webapp.columns import utcnow
from webapp.errors import Forbidden, NotFound
from webapp.extensions import db
from webapp.people import riders
from webapp.people.actors import load_actor
from webapp.people.auth import authenticate, start_session
from webapp.people.models import Rider, RiderInvite, RiderStatus
from webapp.registry.models import Community, TicketKind
from webapp.tickets.models import Ticket, TicketEvent, TicketStatus


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def staff(registry):
    return load_actor(registry.community_staff.id)


@pytest.fixture
def rider_person(app_ctx):
    return make_person("刘洋", "13500003333", openid="o-rider")


def _enroll(client, headers, code, name="刘洋", platform="美团"):
    return client.post(
        "/api/v1/riders/enroll",
        json={"invite_code": code, "name": name, "platform": platform},
        headers=headers,
    )


def _invite(staff, registry, **kw) -> str:
    code = riders.create_invite(staff, registry.community.id, **kw).code
    db.session.commit()
    return code


def test_enrolment_is_pending_until_community_staff_approve(client, registry, staff, rider_person):
    code = _invite(staff, registry)
    headers = session_headers(rider_person)
    response = _enroll(client, headers, code)
    assert response.status_code == 201
    assert response.get_json() == {"status": "pending"}
    assert "rider" not in authenticate(headers["Authorization"].split()[1]).roles
    riders.approve(staff, rider_person.id)
    db.session.commit()
    actor = authenticate(headers["Authorization"].split()[1])
    assert "rider" in actor.roles and actor.is_rider and not actor.is_staff
    me = client.get("/api/v1/riders/me", headers=headers).get_json()
    assert me == {"status": "active", "reports": 0, "accepted_reports": 0, "points": 0}


def test_auto_approving_invite_makes_an_active_rider_at_once(client, registry, staff, rider_person):
    code = _invite(staff, registry, auto_approve=True)
    headers = session_headers(rider_person)
    assert _enroll(client, headers, code.lower()).get_json() == {"status": "active"}
    rider = db.session.query(Rider).one()
    assert rider.community_id == registry.community.id and rider.platform == "美团"
    assert rider.approved_by == registry.community_staff.id
    login = client.post("/api/v1/auth/dev", json={"openid": "o-rider"}).get_json()
    assert login["user"]["roles"] == ["resident", "rider"]


def test_second_enrolment_returns_the_current_status_without_a_duplicate(
    client, registry, staff, rider_person
):
    code = _invite(staff, registry)
    headers = session_headers(rider_person)
    assert _enroll(client, headers, code).status_code == 201
    again = _enroll(client, headers, code, name="刘洋洋", platform="饿了么")
    assert again.status_code == 200 and again.get_json() == {"status": "pending"}
    assert db.session.query(Rider).count() == 1
    db.session.expire_all()
    assert db.session.query(RiderInvite).one().uses == 1


@pytest.mark.parametrize("problem", ["unknown", "revoked", "expired", "used_up"])
def test_a_bad_invite_code_is_422_on_the_field(client, registry, staff, rider_person, problem):
    code = _invite(staff, registry, max_uses=1)
    invite = db.session.query(RiderInvite).one()
    if problem == "unknown":
        code = "NOSUCHCODE23"
    elif problem == "revoked":
        riders.revoke_invite(staff, invite.id)
    elif problem == "expired":
        invite.expires_at = utcnow() - timedelta(minutes=1)
    else:
        _enroll(client, session_headers(make_person("别人", openid="o-other")), code)
    db.session.commit()
    response = _enroll(client, session_headers(rider_person), code)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invite_invalid" and "invite_code" in body["errors"]
    assert "邀请码" in body["message"]
    assert db.session.query(Rider).filter_by(person_id=rider_person.id).count() == 0


def test_enroll_body_is_validated_and_needs_a_login(client, registry, rider_person):
    assert _enroll(client, {}, "X").status_code == 401
    response = client.post(
        "/api/v1/riders/enroll", json={"invite_code": "X"}, headers=session_headers(rider_person)
    )
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"name", "platform"}


def test_only_community_staff_of_that_community_may_invite_and_approve(registry, staff, rider_person):
    grid_worker = load_actor(registry.workers[0].id)
    with pytest.raises(Forbidden):
        riders.create_invite(grid_worker, registry.community.id)
    other_community = Community(code="FL-02", name="和平社区", street_id=registry.street.id)
    db.session.add(other_community)
    db.session.flush()
    with pytest.raises(Forbidden):
        riders.create_invite(staff, other_community.id)
    code = riders.create_invite(staff, registry.community.id).code
    riders.enroll(load_actor(rider_person.id), code, "刘洋", "顺丰")
    with pytest.raises(NotFound):
        riders.approve(grid_worker, rider_person.id)  # staff, but not of the community
    with pytest.raises(Forbidden):
        riders.approve(load_actor(make_person("居民").id), rider_person.id)
    assert riders.approve(staff, rider_person.id).status is RiderStatus.ACTIVE


def test_suspended_rider_loses_the_rider_role(registry, staff, rider_person):
    code = riders.create_invite(staff, registry.community.id, auto_approve=True).code
    riders.enroll(load_actor(rider_person.id), code, "刘洋", "京东")
    token, _ = start_session(rider_person.id)
    assert authenticate(token).is_rider
    riders.suspend(staff, rider_person.id)
    assert not authenticate(token).is_rider


def test_me_is_404_for_someone_who_is_not_a_rider(client, app_ctx, rider_person):
    response = client.get("/api/v1/riders/me", headers=session_headers(rider_person))
    assert response.status_code == 404
    assert response.get_json()["code"] == "rider_not_found"
    assert "骑手" in response.get_json()["message"]


def _rider_ticket(registry, person, number, *, rider_report=True, accepted=False) -> Ticket:
    building = registry.buildings[0]
    ticket = Ticket(
        number=f"JY-20261122-{number:04d}",
        kind=TicketKind.REPORT,
        status=TicketStatus.ACCEPTED if accepted else TicketStatus.DISPATCHED,
        category_id=registry.categories["fire_lane"].id,
        building_id=building.id,
        grid_id=building.grid_id,
        community_id=registry.community.id,
        street_id=registry.street.id,
        description="消防通道被电动车堵住了",
        reporter_id=person.id,
        is_rider_report=rider_report,
    )
    db.session.add(ticket)
    db.session.flush()
    db.session.add(TicketEvent(ticket_id=ticket.id, action="submit", actor_role="rider"))
    if accepted:
        for _ in range(2):  # accepted, returned, accepted again: still one accepted report
            db.session.add(TicketEvent(ticket_id=ticket.id, action="accept", actor_role="grid_worker"))
    return ticket


def test_stats_count_rider_reports_accepted_ones_and_points(client, registry, staff, rider_person):
    code = riders.create_invite(staff, registry.community.id, auto_approve=True).code
    riders.enroll(load_actor(rider_person.id), code, "刘洋", "美团")
    _rider_ticket(registry, rider_person, 1, accepted=True)
    _rider_ticket(registry, rider_person, 2)
    _rider_ticket(registry, rider_person, 3, rider_report=False, accepted=True)
    assert riders.award_points(rider_person.id, 5) == 5
    assert riders.award_points(rider_person.id, 3) == 8
    assert riders.award_points(make_person("居民").id, 3) is None
    db.session.commit()
    me = client.get("/api/v1/riders/me", headers=session_headers(rider_person)).get_json()
    assert me == {"status": "active", "reports": 2, "accepted_reports": 1, "points": 8}


def test_cli_prints_an_invite_code_that_enrols(runner, registry, rider_person):
    result = runner.invoke(args=["riders", "invite", "FL-01", "--auto-approve", "--max-uses", "5"])
    assert result.exit_code == 0, result.output
    code = result.output.strip()
    invite = db.session.query(RiderInvite).filter_by(code=code).one()
    assert invite.auto_approve and invite.max_uses == 5 and invite.created_by is None
    rider, created = riders.enroll(load_actor(rider_person.id), code, "刘洋", "美团")
    assert created and rider.status is RiderStatus.ACTIVE and rider.approved_by is None


def test_cli_refuses_an_unknown_community(runner, registry):
    result = runner.invoke(args=["riders", "invite", "NO-SUCH"])
    assert result.exit_code != 0 and "NO-SUCH" in result.output


def test_accepting_a_rider_report_earns_points_once(client, registry, staff, rider_person):
    from tests.factories import auth_headers, submit

    code = riders.create_invite(staff, registry.community.id, auto_approve=True).code
    riders.enroll(load_actor(rider_person.id), code, "刘洋", "美团")
    db.session.commit()
    rider = session_headers(rider_person)
    ticket_id = submit(client, rider, registry.codes[registry.buildings[0].id]).get_json()["id"]
    worker = auth_headers(client, registry.workers[0])
    supervisor = auth_headers(client, registry.community_staff)

    def act(headers, **body):
        response = client.post(f"/api/v1/tickets/{ticket_id}/actions", json=body, headers=headers)
        assert response.status_code == 200, response.get_json()

    act(worker, action="accept")
    act(worker, action="return", reason="wrong_grid")
    act(supervisor, action="dispatch", target=registry.workers[0].id)
    act(worker, action="accept")
    me = client.get("/api/v1/riders/me", headers=rider).get_json()
    assert me["points"] == 10 and me["accepted_reports"] == 1


def test_a_rider_who_enrols_and_reports_at_once_gets_the_report_counted(
    app, client, registry, staff, rider_person, monkeypatch
):
    """The actor behind a token is cached (AUTH_CACHE_SECONDS); enrolling must not leave the
    first report filed as a resident's, without count or points."""
    monkeypatch.setitem(app.config, "AUTH_CACHE_SECONDS", 10)
    code = _invite(staff, registry, auto_approve=True)
    headers = session_headers(rider_person)
    assert client.get("/api/v1/tickets/mine", headers=headers).status_code == 200  # cached now
    assert _enroll(client, headers, code).status_code == 201
    from tests.factories import submit

    created = submit(client, headers, registry.codes[registry.buildings[0].id])
    assert created.status_code == 201, created.get_json()
    ticket = db.session.get(Ticket, created.get_json()["id"])
    assert ticket.is_rider_report
    me = client.get("/api/v1/riders/me", headers=headers).get_json()
    assert me["reports"] == 1


def test_a_report_filed_from_a_stale_rider_cache_is_not_a_rider_report(
    app, client, registry, staff, rider_person, monkeypatch
):
    """The other way round: suspended in another process, still cached here as a rider."""
    monkeypatch.setitem(app.config, "AUTH_CACHE_SECONDS", 10)
    code = _invite(staff, registry, auto_approve=True)
    headers = session_headers(rider_person)
    assert _enroll(client, headers, code).status_code == 201
    assert client.get("/api/v1/riders/me", headers=headers).status_code == 200  # cached as rider
    db.session.execute(
        Rider.__table__.update().values(status=RiderStatus.SUSPENDED)
    )  # another process's change: this process's cache is not told
    db.session.commit()
    from tests.factories import submit

    created = submit(client, headers, registry.codes[registry.buildings[0].id])
    assert created.status_code == 201
    assert not db.session.get(Ticket, created.get_json()["id"]).is_rider_report
