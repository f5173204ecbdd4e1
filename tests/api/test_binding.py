"""Binding an imported staff member to the WeChat account that redeems a one-time code."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.columns import utcnow
from webapp.extensions import db
from webapp.people import bindings
from webapp.people.models import AuthSession, BindCode, Person, Role, StaffAssignment
from webapp.registry.models import Street


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def issue(client, registry, person) -> str:
    supervisor = auth_headers(client, registry.community_staff)
    response = client.post("/api/v1/work/bind-codes", json={"person_id": person.id}, headers=supervisor)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["person"] == {"id": person.id, "name": person.name}
    assert body["expires_at"].endswith("+08:00")
    return body["code"]


def bind(client, headers, code):
    return client.post("/api/v1/auth/bind", json={"bind_code": code}, headers=headers)


def test_bind_moves_the_openid_and_the_token_acts_as_the_staff_member(client, registry):
    worker = registry.workers[0]
    assert worker.openid is None
    code = issue(client, registry, worker)
    phone = auth_headers(client, openid="wx-openid-zhangli")  # WeChat login: a fresh resident
    temporary_id = db.session.scalars(select(Person.id).where(Person.openid == "wx-openid-zhangli")).one()

    response = bind(client, phone, code.lower().replace("-", " "))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"id": worker.id, "roles": ["resident", "grid_worker"]}
    db.session.expire_all()
    assert db.session.get(Person, worker.id).openid == "wx-openid-zhangli"
    assert db.session.get(Person, temporary_id) is None
    # The same token now works the grid worker's queue.
    assert client.get("/api/v1/work/tickets", headers=phone).status_code == 200
    # And the next WeChat login lands on the staff member too.
    again = client.post("/api/v1/auth/dev", json={"openid": "wx-openid-zhangli"}).get_json()
    assert again["user"]["id"] == worker.id


def test_bind_code_works_once_and_expires(client, registry):
    worker = registry.workers[0]
    code = issue(client, registry, worker)
    assert bind(client, auth_headers(client, openid="wx-a"), code).status_code == 200
    used = bind(client, auth_headers(client, openid="wx-b"), code)
    assert used.status_code == 422
    assert used.get_json()["code"] == "bind_code_invalid"
    assert "绑定码无效或已过期" in used.get_json()["message"]

    other = registry.workers[1]
    stale = issue(client, registry, other)
    db.session.execute(
        BindCode.__table__.update().where(BindCode.person_id == other.id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert bind(client, auth_headers(client, openid="wx-c"), stale).status_code == 422
    assert bind(client, auth_headers(client, openid="wx-c"), "ABCD-EFGH-JKMN").status_code == 422


def test_a_new_bind_code_ends_the_previous_one(client, registry):
    worker = registry.workers[0]
    first = issue(client, registry, worker)
    second = issue(client, registry, worker)
    phone = auth_headers(client, openid="wx-a")
    assert bind(client, phone, first).status_code == 422
    assert bind(client, phone, second).status_code == 200


def test_bind_refuses_an_account_that_already_reported(client, registry):
    code = issue(client, registry, registry.workers[0])
    phone = auth_headers(client, openid="wx-reporter")
    assert submit(client, phone, registry.codes[registry.buildings[0].id]).status_code == 201
    response = bind(client, phone, code)
    assert response.status_code == 409
    assert response.get_json()["code"] == "account_has_history"
    # Nothing moved, and the code is still good for a fresh account.
    assert bind(client, auth_headers(client, openid="wx-fresh"), code).status_code == 200


def test_binding_a_new_phone_ends_the_old_phones_sessions(client, registry):
    worker = registry.workers[0]
    old_phone = auth_headers(client, worker)  # bound before, logged in
    code = issue(client, registry, worker)
    new_phone = auth_headers(client, openid="wx-new-phone")
    assert bind(client, new_phone, code).status_code == 200
    assert client.get("/api/v1/work/tickets", headers=old_phone).status_code == 401
    assert client.get("/api/v1/work/tickets", headers=new_phone).status_code == 200
    live = db.session.scalars(
        select(AuthSession).where(AuthSession.person_id == worker.id, AuthSession.revoked_at.is_(None))
    ).all()
    assert len(live) == 1


def test_only_supervisors_issue_bind_codes_within_their_scope(client, registry):
    target = registry.workers[1]
    worker = auth_headers(client, registry.workers[0])
    assert client.post("/api/v1/work/bind-codes", json={"person_id": target.id}, headers=worker).status_code == 403
    resident = auth_headers(client, openid="resident-a")
    assert client.post("/api/v1/work/bind-codes", json={"person_id": target.id}, headers=resident).status_code == 403

    # Staff of another street: out of scope, so "not found".
    elsewhere = make_person("外街道", code="P-X")
    other_street = Street(code="XX", name="西城街道", ticket_prefix="XC")
    db.session.add(other_street)
    db.session.flush()
    db.session.add(StaffAssignment(person=elsewhere, role=Role.STREET_STAFF, street=other_street))
    db.session.commit()
    supervisor = auth_headers(client, registry.community_staff)
    for person_id in (elsewhere.id, "no-such-person"):
        response = client.post("/api/v1/work/bind-codes", json={"person_id": person_id}, headers=supervisor)
        assert response.status_code == 404
    # A resident is not staff: nothing to bind.
    plain = db.session.scalars(select(Person.id).where(Person.openid == "resident-a")).one()
    assert client.post("/api/v1/work/bind-codes", json={"person_id": plain}, headers=supervisor).status_code == 404
    # The professional answers for grids of this community: in scope.
    assert issue(client, registry, registry.professional)


def test_bind_code_is_stored_hashed_and_unguessable(registry):
    row, code = bindings.issue_bind_code(registry.workers[0].id)
    plain = bindings.normalize_code(code)
    assert len(plain) == bindings.CODE_LENGTH and set(plain) <= set(bindings.CODE_ALPHABET)
    assert plain not in row.code_hash and len(row.code_hash) == 64
    assert row.expires_at - row.created_at == timedelta(hours=24)


def test_staff_bind_code_command_prints_code_and_expiry(runner, registry):
    result = runner.invoke(args=["staff", "bind-code", "P-ZL"])
    assert result.exit_code == 0, result.output
    assert "张丽（P-ZL）的绑定码：" in result.output and "有效期至" in result.output
    missing = runner.invoke(args=["staff", "bind-code", "P-NONE"])
    assert missing.exit_code != 0 and "未找到人员编码" in missing.output
