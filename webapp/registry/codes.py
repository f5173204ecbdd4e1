"""Issuing, revoking and replacing the printed code of a building, one building at a time."""
from __future__ import annotations

from sqlalchemy import select

from qr.codes import new_code
from webapp.columns import utcnow
from webapp.errors import NotFound
from webapp.extensions import db
from webapp.registry.models import Building, BuildingCode


def active_code(building_id: int) -> BuildingCode | None:
    return db.session.scalars(
        select(BuildingCode).where(
            BuildingCode.building_id == building_id, BuildingCode.revoked_at.is_(None)
        )
    ).first()


def issue_code(building_id: int) -> BuildingCode:
    """Give a building a new active code; its previous code, if any, is revoked."""
    if db.session.get(Building, building_id) is None:
        raise NotFound("未找到该楼栋", code="building_not_found")
    revoke_code(building_id)
    code = BuildingCode(building_id=building_id, code=new_code())
    db.session.add(code)
    db.session.flush()
    return code


def revoke_code(building_id: int) -> BuildingCode | None:
    """Revoke the building's active code (it will answer 410); returns it, or None."""
    current = active_code(building_id)
    if current is not None:
        current.revoked_at = utcnow()
        db.session.flush()
    return current


def issue_missing_codes() -> int:
    """Give every building without an active code one; returns how many were issued."""
    has_code = select(BuildingCode.building_id).where(BuildingCode.revoked_at.is_(None))
    ids = db.session.scalars(select(Building.id).where(Building.id.not_in(has_code))).all()
    for building_id in ids:
        db.session.add(BuildingCode(building_id=building_id, code=new_code()))
    db.session.flush()
    return len(ids)
