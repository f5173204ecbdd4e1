"""Fixtures of the privacy tests: a registry, a resident, a wish reader, reading stored values."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import auth_headers, make_registry
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def resident(client, registry):
    return auth_headers(client, openid="privacy-resident")


@pytest.fixture
def reader(registry):
    """The community staff member, also the community's wish reader."""
    person = registry.community_staff
    db.session.add(StaffAssignment(person_id=person.id, role=Role.WISH_READER, community_id=registry.community.id))
    db.session.commit()
    return person


def stored(table: str, column: str, row_id: str):
    """The value as the database holds it (no column type in between)."""
    return db.session.execute(
        sa.text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar()
