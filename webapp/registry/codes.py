"""Issuing, revoking and replacing the printed code of a building, one building at a time."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from qr.codes import new_code
from webapp.audit.trail import Action, record
from webapp.columns import utcnow
from webapp.errors import Conflict, NotFound
from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.registry.models import Building, BuildingCode, Community, Grid


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


# ---------------------------------------------------------------- by staff, from the console


@dataclass(frozen=True)
class BuildingCodeView:
    """One building as the console's code page lists it."""

    id: int
    code: str
    name: str
    address: str
    grid_name: str
    active_code: str | None
    issued_at: object


def community_in_scope(actor: Actor, community_code: str) -> Community:
    """The community, when the actor supervises it. Raises NotFound (also outside the scope)."""
    community = db.session.scalars(select(Community).where(Community.code == community_code)).first()
    if community is None or not actor.supervises_community(community.id, community.street_id):
        raise NotFound(f"未找到社区编码 {community_code}", code="community_not_found")
    return community


def buildings_with_codes(actor: Actor, community_code: str) -> list[BuildingCodeView]:
    """The community's buildings, each with its active code (None: revoked, none printed)."""
    community = community_in_scope(actor, community_code)
    rows = db.session.execute(
        select(Building.id, Building.code, Building.name, Building.address, Grid.name, BuildingCode.code,
               BuildingCode.created_at)
        .join(Grid, Grid.id == Building.grid_id)
        .outerjoin(BuildingCode, (BuildingCode.building_id == Building.id) & BuildingCode.revoked_at.is_(None))
        .where(Grid.community_id == community.id)
        .order_by(Grid.code, Building.code)
    )
    return [BuildingCodeView(*row) for row in rows]


def building_in_scope(actor: Actor, building_id: int) -> tuple[Building, Community]:
    """A building whose community the actor supervises. Raises NotFound (also outside the scope)."""
    row = db.session.execute(
        select(Building, Community)
        .join(Grid, Grid.id == Building.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .where(Building.id == building_id)
    ).first()
    if row is None or not actor.supervises_community(row[1].id, row[1].street_id):
        raise NotFound("未找到该楼栋", code="building_not_found")
    return row[0], row[1]


def reissue_code_by(actor: Actor, building_id: int, *, address: str | None = None) -> BuildingCode:
    """Staff replace a building's code: the old one answers 410 from now on; audited.

    Raises NotFound for a building outside the actor's scope.
    """
    building, _ = building_in_scope(actor, building_id)
    old = active_code(building.id)
    new = issue_code(building.id)
    record(Action.CODE_REISSUED, actor_id=actor.person_id, target_type="building", target_id=building.id,
           address=address, detail={"building": building.code, "old": old.code if old else None, "new": new.code})
    return new


def revoke_code_by(actor: Actor, building_id: int, *, address: str | None = None) -> BuildingCode | None:
    """Staff revoke a building's code without a new one (the sign is taken down); audited.

    Raises NotFound for a building outside the actor's scope, Conflict when it has no active code.
    """
    building, _ = building_in_scope(actor, building_id)
    revoked = revoke_code(building.id)
    if revoked is None:
        raise Conflict("该楼栋没有在用的二维码", code="no_active_code")
    record(Action.CODE_REVOKED, actor_id=actor.person_id, target_type="building", target_id=building.id,
           address=address, detail={"building": building.code, "code": revoked.code})
    return revoked
