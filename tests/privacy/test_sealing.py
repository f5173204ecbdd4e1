"""Phone numbers at rest: sealed in both tables on both databases, found by their keyed hash,
shown as before (masked where they were masked), readable across a key rotation, converted by
migration 0007; production refuses to start without a proper PERSONAL_DATA_KEY."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.factories import auth_headers, make_person, submit
from tests.privacy.conftest import stored
from webapp.config import ProductionConfig
from webapp.extensions import db
from webapp.people.models import Person
from webapp.privacy import rekeying, sealing
from webapp.tickets.models import Ticket

PHONE = "13912345678"


def test_a_persons_phone_is_sealed_and_found_by_its_hash(registry):
    person = make_person("周敏", PHONE)
    db.session.commit()
    raw = stored("people", "phone", person.id)
    assert raw.startswith(sealing.SEALED_PREFIX) and PHONE not in raw
    db.session.expire_all()
    assert db.session.get(Person, person.id).phone == PHONE
    found = db.session.scalars(select(Person).where(Person.phone_hash.in_(sealing.phone_hashes("139 1234-5678"))))
    assert [p.id for p in found] == [person.id]
    person.phone = None
    db.session.commit()
    assert (stored("people", "phone", person.id), stored("people", "phone_hash", person.id)) == (None, None)


def test_two_seals_of_one_number_differ_and_both_open(app_ctx):
    first, second = sealing.seal(PHONE), sealing.seal(PHONE)
    assert first != second
    assert sealing.unseal(first) == sealing.unseal(second) == PHONE
    assert sealing.phone_hash(PHONE) == sealing.phone_hash("+86 139-1234-5678")


def test_a_submitted_contact_phone_is_sealed_and_shown_to_staff_as_before(client, registry, resident):
    """The submission writes its row past the ORM on PostgreSQL (filing): sealed all the same."""
    ticket_id = submit(client, resident, registry.codes[registry.buildings[0].id], contact_phone=PHONE).get_json()["id"]
    raw = stored("tickets", "contact_phone", ticket_id)
    assert raw.startswith(sealing.SEALED_PREFIX) and PHONE not in raw
    assert stored("tickets", "contact_phone_hash", ticket_id) == sealing.phone_hash(PHONE)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket_id).contact_phone == PHONE
    worker = auth_headers(client, registry.workers[0])
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=worker).get_json()["contact_phone"] == PHONE
    assert client.get(f"/api/v1/tickets/{ticket_id}", headers=resident).get_json()["contact_phone"] is None


def test_the_scan_still_shows_masked_numbers(client, registry):
    contacts = client.get(f"/api/v1/scan/{registry.codes[registry.buildings[0].id]}").get_json()["contacts"]
    assert contacts[0]["phone_masked"] == "138****5678"  # 张丽 13812345678


def test_a_rotation_reads_old_values_and_rekey_moves_them_to_the_new_key(app, registry, monkeypatch):
    person = make_person("周敏", PHONE)
    db.session.commit()
    old_raw = stored("people", "phone", person.id)
    old_key = sealing.development_key(app.config["SECRET_KEY"])
    monkeypatch.setitem(app.config, "PERSONAL_DATA_KEY", "n" * 40)
    with pytest.raises(sealing.SealingKeyError):
        sealing.unseal(old_raw)
    monkeypatch.setitem(app.config, "PERSONAL_DATA_KEY_PREVIOUS", old_key)
    db.session.expire_all()
    assert db.session.get(Person, person.id).phone == PHONE
    assert person.id in db.session.scalars(select(Person.id).where(Person.phone_hash.in_(sealing.phone_hashes(PHONE)))).all()
    counts = rekeying.rekey_all(db.session.connection())
    db.session.commit()
    assert counts["people"] >= 1
    assert rekeying.rekey_all(db.session.connection())["people"] == 0  # nothing stale left
    monkeypatch.setitem(app.config, "PERSONAL_DATA_KEY_PREVIOUS", "")
    db.session.expire_all()
    assert db.session.get(Person, person.id).phone == PHONE
    assert stored("people", "phone_hash", person.id) == sealing.phone_hash(PHONE)
    db.session.rollback()


def test_reseal_seals_plain_numbers_of_before_the_migration(registry):
    person = make_person("周敏", None)
    db.session.commit()
    db.session.execute(sa.text("UPDATE people SET phone = :p WHERE id = :id"), {"p": PHONE, "id": person.id})
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Person, person.id).phone == PHONE  # a plain value still reads
    rekeying.reseal_column(db.session.connection(), "people", "phone", "phone_hash")
    db.session.commit()
    assert stored("people", "phone", person.id).startswith(sealing.SEALED_PREFIX)
    assert stored("people", "phone_hash", person.id) == sealing.phone_hash(PHONE)


def test_migration_0007_seals_existing_numbers_and_downgrade_opens_them(tmp_path):
    from flask_migrate import downgrade, upgrade

    from webapp import create_app
    from webapp.config import TestingConfig

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite3'}")
    with app.app_context():
        upgrade(revision="0006")
        db.session.execute(sa.text(
            "INSERT INTO people (id, name, phone, is_away, created_at, publish_phone, failed_sign_ins, session_version) "
            "VALUES ('p1', '老王', :p, false, CURRENT_TIMESTAMP, false, 0, 0)"), {"p": PHONE})
        db.session.commit()
        upgrade()
        assert stored("people", "phone", "p1").startswith(sealing.SEALED_PREFIX)
        assert stored("people", "phone_hash", "p1") == sealing.phone_hash(PHONE)
        assert db.session.get(Person, "p1").phone == PHONE
        db.session.rollback()
        downgrade(revision="0006")
        assert stored("people", "phone", "p1") == PHONE
        db.session.rollback()
        db.engine.dispose()


@pytest.fixture
def production_env(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db.example/grid")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://grid.example.cn")
    for name in ("DEV_LOGIN", "WECHAT_APPID", "PERSONAL_DATA_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("key", [None, "short", "s" * 40])
def test_production_refuses_a_missing_short_or_reused_personal_data_key(production_env, key):
    if key is None:
        production_env.delenv("PERSONAL_DATA_KEY", raising=False)
    else:
        production_env.setenv("PERSONAL_DATA_KEY", key)
    with pytest.raises(RuntimeError, match="PERSONAL_DATA_KEY"):
        ProductionConfig.check()


def test_production_accepts_a_proper_key_and_refuses_a_retention_of_zero(production_env):
    production_env.setenv("PERSONAL_DATA_KEY", "p" * 40)
    ProductionConfig.check()
    production_env.setenv("PERSONAL_DATA_RETENTION_DAYS", "0")
    with pytest.raises(RuntimeError, match="PERSONAL_DATA_RETENTION_DAYS"):
        ProductionConfig.check()


def test_a_staff_members_phone_reads_in_the_accounts_rows_as_before(registry):
    """The console's staff pages read the number through the model: the same text as before."""
    from webapp.people import accounts
    from webapp.people.actors import load_actor
    from webapp.people.models import Role, StaffAssignment

    admin = make_person("刘管理", "13644445555", code="P-ADM2")
    db.session.add(StaffAssignment(person=admin, role=Role.ADMIN))
    db.session.commit()
    assert accounts.staff_row(load_actor(admin.id), registry.workers[0].id).phone == "13812345678"
