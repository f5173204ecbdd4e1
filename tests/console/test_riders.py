"""/console/riders over HTTP: pending riders approved or refused, invites, stats, scope, audit."""
from __future__ import annotations

import pytest

from tests.console.helpers import csrf_token, sign_in_as
from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.people import riders
from webapp.people.actors import load_actor
from webapp.people.models import Rider, RiderInvite, RiderStatus


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _enrolled(registry, name: str, *, auto: bool = False) -> Rider:
    invite = riders.issue_invite(registry.community.id, auto_approve=auto)
    person = make_person(name, openid=f"rider-{name}")
    rider, _ = riders.enroll(load_actor(person.id), invite.code, name, "美团")
    db.session.commit()
    return rider


def _post(client, path, data=None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/console/riders")})


def _audit(action):
    db.session.expire_all()
    return db.session.query(AuditEntry).filter_by(action=action).all()


def test_grid_worker_gets_403_on_riders(client, registry):
    sign_in_as(client, registry.workers[0])
    response = client.get("/console/riders")
    assert response.status_code == 403
    assert "只有社区、街道工作人员可以查看骑手" in response.get_data(as_text=True)


def test_community_staff_approve_one_rider_and_refuse_another(client, registry):
    first, second = _enrolled(registry, "刘骑手"), _enrolled(registry, "钱骑手")
    sign_in_as(client, registry.community_staff)
    page = client.get("/console/riders").get_data(as_text=True)
    assert "待审核骑手" in page and "刘骑手" in page and "钱骑手" in page
    assert _post(client, f"/console/riders/{first.person_id}/approve").status_code == 303
    assert _post(client, f"/console/riders/{second.person_id}/refuse", {"reason": "非本社区配送员"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(Rider, first.id).status is RiderStatus.ACTIVE
    refused = db.session.get(Rider, second.id)
    assert refused.status is RiderStatus.SUSPENDED and refused.approved_at is None
    page = client.get("/console/riders").get_data(as_text=True)
    assert "已通过" in page and "未通过" in page and "没有待审核的骑手" in page
    assert _audit("rider_approved")[0].target_id == first.person_id
    assert _audit("rider_refused")[0].detail == {"reason": "非本社区配送员"}
    # Refusing twice is a page with the reason, not a change.
    again = _post(client, f"/console/riders/{second.person_id}/refuse")
    assert again.status_code == 422 and "已审核过" in again.get_data(as_text=True)


def test_an_active_riders_reports_accepted_reports_and_points_are_listed(client, registry):
    rider = _enrolled(registry, "孙骑手", auto=True)
    headers = auth_headers(client, openid="rider-孙骑手")
    ticket = submit(client, headers, registry.codes[registry.buildings[0].id]).get_json()
    worker = auth_headers(client, registry.workers[0])
    assert client.post(f"/api/v1/tickets/{ticket['id']}/actions", json={"action": "accept"}, headers=worker).status_code == 200
    rows = {r.name: r for r in riders.riders_in(load_actor(registry.community_staff.id))}
    assert (rows["孙骑手"].reports, rows["孙骑手"].accepted_reports, rows["孙骑手"].points) == (1, 1, 10)
    sign_in_as(client, registry.community_staff)
    page = client.get("/console/riders").get_data(as_text=True)
    assert f'id="rider-{rider.person_id}"' in page and '<td data-label="积分">10</td>' in page


def test_issue_and_revoke_invites(client, registry):
    sign_in_as(client, registry.community_staff)
    response = _post(client, "/console/riders/invites", {
        "community": str(registry.community.id), "auto_approve": "1", "max_uses": "5", "expires_on": "2099-12-31",
    })
    assert response.status_code == 200
    invite = db.session.query(RiderInvite).one()
    assert invite.code in response.get_data(as_text=True) and "登记后自动通过审核" in response.get_data(as_text=True)
    assert invite.auto_approve and invite.max_uses == 5 and invite.created_by == registry.community_staff.id
    bad = _post(client, "/console/riders/invites", {"community": str(registry.community.id), "max_uses": "0"})
    assert bad.status_code == 422 and "使用次数至少为1" in bad.get_data(as_text=True)
    assert _post(client, f"/console/riders/invites/{invite.id}/revoke").status_code == 303
    db.session.expire_all()
    assert db.session.get(RiderInvite, invite.id).revoked_at is not None
    assert "已作废" in client.get("/console/riders").get_data(as_text=True)
    assert len(_audit("invite_created")) == 1 and len(_audit("invite_revoked")) == 1


def test_riders_post_without_the_form_token_changes_nothing(client, registry):
    rider = _enrolled(registry, "周骑手")
    sign_in_as(client, registry.community_staff)
    assert client.post(f"/console/riders/{rider.person_id}/approve").status_code == 400
    assert client.post("/console/riders/invites", data={"community": str(registry.community.id)}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Rider, rider.id).status is RiderStatus.PENDING
    assert db.session.query(RiderInvite).count() == 1  # the enrolment's own
