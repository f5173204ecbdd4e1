"""Forgetting a WeChat user (webapp.people.erasure): what goes, what stays, and for whom."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import auth_headers, make_person, make_registry, submit, upload_photo
from webapp.columns import utcnow
from webapp.extensions import db
from webapp.notifications.models import SubscriptionQuota
from webapp.notifications.subscriptions import add_consent
from webapp.people.auth import authenticate
from webapp.people.erasure import PLACEHOLDER_NAME, forget_wechat_user
from webapp.people.models import AuthSession, BindCode, Person, Rider, RiderStatus
from webapp.errors import Unauthorized
from webapp.tickets import wishes
from webapp.tickets.models import MeToo, Photo, Ticket


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _person(openid: str) -> Person:
    return db.session.scalars(select(Person).where(Person.openid == openid)).one()


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    return db.session.scalar(query)


def test_a_resident_is_unlinked_and_erased_and_their_tickets_stay(client, registry):
    headers = auth_headers(client, openid="o-resident")
    code = registry.codes[registry.buildings[0].id]
    photo_id = upload_photo(client, headers)
    report = submit(client, headers, code, contact_phone="13900001111", photo_ids=[photo_id]).get_json()
    wish = submit(
        client, headers, code, kind="wish", category="wish", description="希望加装晾衣架", anonymous=True,
    ).get_json()
    person = _person("o-resident")
    person_id = person.id
    person.phone = "13900001111"
    add_consent(person_id, "T-1")
    db.session.add(Rider(person_id=person_id, community_id=registry.community.id, name="小李",
                         platform="美团", status=RiderStatus.ACTIVE))
    db.session.add(BindCode(code_hash="h" * 64, person_id=registry.workers[1].id, created_at=utcnow(),
                            expires_at=utcnow() + timedelta(hours=1), used_at=utcnow(), used_openid="o-resident"))
    db.session.commit()
    version = db.session.get(Ticket, report["id"]).version
    updated_at = db.session.get(Ticket, report["id"]).updated_at
    assert db.session.get(Ticket, wish["id"]).reporter_key is not None

    erasure = forget_wechat_user("o-resident", reason="user_authorization_cancellation")
    db.session.commit()

    assert erasure is not None and erasure.person_id == person_id and not erasure.is_staff
    # The report's contact phone; the anonymous wish never had a link to its author.
    assert (erasure.sessions, erasure.subscriptions, erasure.tickets) == (1, 1, 1)
    db.session.expire_all()
    person = db.session.get(Person, person_id)
    assert (person.openid, person.name, person.phone) == (None, PLACEHOLDER_NAME, None)
    assert _count(AuthSession, person_id=person_id) == 0
    assert _count(SubscriptionQuota, person_id=person_id) == 0
    rider = db.session.scalars(select(Rider).where(Rider.person_id == person_id)).one()
    assert (rider.name, rider.status) == (PLACEHOLDER_NAME, RiderStatus.SUSPENDED)
    assert _count(BindCode, used_openid="o-resident") == 0
    kept = db.session.get(Ticket, report["id"])
    assert kept.contact_phone is None and kept.reporter_id == person_id and kept.description
    assert (kept.version, kept.updated_at) == (version, updated_at)  # not a step of its life
    assert db.session.get(Ticket, wish["id"]).reporter_key not in wishes.reporter_keys(person_id)
    assert db.session.get(Photo, photo_id).ticket_id == report["id"]
    with pytest.raises(Unauthorized):
        authenticate(headers["Authorization"].removeprefix("Bearer "))


def test_forgetting_is_idempotent_and_an_unknown_openid_is_ignored(client, registry):
    auth_headers(client, openid="o-twice")
    person_id = _person("o-twice").id
    assert forget_wechat_user("o-twice") is not None
    db.session.commit()
    assert forget_wechat_user("o-twice") is None
    assert forget_wechat_user("o-nobody") is None
    assert forget_wechat_user("") is None
    db.session.commit()
    assert db.session.get(Person, person_id).name == PLACEHOLDER_NAME


def test_a_staff_member_keeps_their_record_and_loses_the_wechat_binding(client, registry):
    worker = registry.workers[0]
    headers = auth_headers(client, worker)
    openid = worker.openid
    add_consent(worker.id, "T-STAFF")
    db.session.commit()

    erasure = forget_wechat_user(openid)
    db.session.commit()

    assert erasure.is_staff and erasure.sessions == 1 and erasure.subscriptions == 1 and erasure.tickets == 0
    db.session.expire_all()
    worker = db.session.get(Person, worker.id)
    assert worker.openid is None
    assert (worker.name, worker.phone, worker.code) == ("张丽", "13812345678", "P-ZL")
    assert [a.role.value for a in worker.assignments] == ["grid_worker"]
    with pytest.raises(Unauthorized):
        authenticate(headers["Authorization"].removeprefix("Bearer "))


def test_a_resident_who_said_me_too_keeps_the_count(client, registry, app_ctx):
    reporter = auth_headers(client, openid="o-reporter")
    neighbour = auth_headers(client, openid="o-neighbour")
    ticket_id = submit(client, reporter, registry.codes[registry.buildings[0].id]).get_json()["id"]
    assert client.post(f"/api/v1/tickets/{ticket_id}/me-too", headers=neighbour).status_code == 200
    forget_wechat_user("o-neighbour")
    db.session.commit()
    assert db.session.get(Ticket, ticket_id).me_too_count == 1
    assert _count(MeToo, ticket_id=ticket_id) == 1


def test_a_person_without_wechat_is_not_touched(app_ctx):
    person = make_person("导入居民", phone="13700000000")
    db.session.commit()
    assert forget_wechat_user("13700000000") is None
    assert db.session.get(Person, person.id).name == "导入居民"
