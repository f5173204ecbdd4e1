"""Patrols (一日双巡): grid workers check in at buildings by scanning their printed code.

A day is a calendar day in Asia/Shanghai. A second scan of the same building by the same
person within REPEAT_WINDOW is the same check-in (a double tap or a shaky scan), not a second
round.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select

from webapp.columns import utcnow
from webapp.errors import Forbidden, Invalid, NotFound
from webapp.extensions import db
from webapp.patrols.models import Patrol
from webapp.people.actors import Actor
from webapp.registry.models import Building, Community, Grid
from webapp.registry.scan import resolve_code

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPEAT_WINDOW = timedelta(minutes=10)


def day_start(now: datetime) -> datetime:
    """00:00 in Asia/Shanghai of the day `now` falls on (aware)."""
    return datetime.combine(now.astimezone(SHANGHAI).date(), time(), SHANGHAI)


def _require_staff(actor: Actor) -> None:
    if not actor.is_staff:
        raise Forbidden("仅工作人员可以巡查打卡", code="staff_only")


def grid_in_scope(actor: Actor, grid: Grid) -> bool:
    """Grids the caller works in or supervises: own grids (as grid worker or through the
    matrix), the grids of their communities and streets; an admin everywhere."""
    if actor.is_admin or grid.id in actor.grid_ids:
        return True
    if any(grid.id == grid_id for grid_id, _ in actor.matrix):
        return True
    if grid.community_id in actor.community_ids:
        return True
    if actor.street_ids:
        street_id = db.session.scalar(select(Community.street_id).where(Community.id == grid.community_id))
        return street_id in actor.street_ids
    return False


def check_in(actor: Actor, code: str, *, now: datetime | None = None) -> tuple[Patrol, int, bool]:
    """Record a patrol at the building behind a printed code.

    Returns (patrol, today_count, created): today_count is how many check-ins the building has
    had today (Asia/Shanghai), this one included. Raises Forbidden for a non-staff caller,
    NotFound for an unknown code or a building outside the caller's scope, Gone for a revoked
    code.
    """
    _require_staff(actor)
    now = now or utcnow()
    building = db.session.get(Building, resolve_code(code))
    if building is None or not grid_in_scope(actor, building.grid):
        raise NotFound("未找到该楼栋，或不在您的巡查范围内", code="building_not_found")
    recent = db.session.scalars(
        select(Patrol)
        .where(
            Patrol.person_id == actor.person_id,
            Patrol.building_id == building.id,
            Patrol.checked_in_at > now - REPEAT_WINDOW,
        )
        .order_by(Patrol.checked_in_at.desc())
    ).first()
    created = recent is None
    patrol = recent or Patrol(
        person_id=actor.person_id, building_id=building.id, grid_id=building.grid_id, checked_in_at=now
    )
    if created:
        db.session.add(patrol)
        db.session.flush()
    today_count = db.session.scalar(
        select(func.count(Patrol.id)).where(
            Patrol.building_id == building.id, Patrol.checked_in_at >= day_start(now)
        )
    )
    return patrol, today_count, created


def unvisited_buildings_query(actor: Actor, grid_id: int | None, *, now: datetime | None = None):
    """The buildings of a grid nobody checked in at today, with their last check-in time.

    Rows are (Building, last_checked_in_at | None), ordered by building id. Without grid_id:
    the caller's own grid when they are the worker of exactly one. Raises Forbidden for a
    non-staff caller, NotFound for a grid outside their scope, Invalid when no grid is given
    and none is implied.
    """
    _require_staff(actor)
    now = now or utcnow()
    if grid_id is None:
        if len(actor.grid_ids) != 1:
            raise Invalid("请选择网格", code="grid_required", errors={"grid_id": ["请选择网格"]})
        (grid_id,) = actor.grid_ids
    grid = db.session.get(Grid, grid_id)
    if grid is None or not grid_in_scope(actor, grid):
        raise NotFound("未找到该网格", code="grid_not_found")
    visited_today = select(Patrol.id).where(
        Patrol.building_id == Building.id, Patrol.checked_in_at >= day_start(now)
    )
    last_visit = (
        select(func.max(Patrol.checked_in_at))
        .where(Patrol.building_id == Building.id)
        .correlate(Building)
        .scalar_subquery()
    )
    return (
        select(Building, last_visit.label("last_checked_in_at"))
        .where(and_(Building.grid_id == grid.id, ~visited_today.exists()))
        .order_by(Building.id)
    )
