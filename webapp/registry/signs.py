"""The printed signs (多网融合信息公示牌) of a community or a street, read lazily from the registry."""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Callable

from flask import current_app
from sqlalchemy import func, select

from qr.signs import Sign, SignContact, write_signs_pdf
from qr.urls import building_url
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.registry.models import Building, BuildingCode, Community, Grid, Street
from webapp.registry.scan import building_contacts

BATCH = 500


def _scope(street_code: str | None, community_code: str | None):
    """The buildings with an active code in one community or one street, in print order."""
    if bool(street_code) == bool(community_code):
        raise Invalid("请指定一个街道或一个社区", code="scope_required")
    query = (
        select(Building, BuildingCode.code, Grid, Community, Street)
        .join(BuildingCode, (BuildingCode.building_id == Building.id) & BuildingCode.revoked_at.is_(None))
        .join(Grid, Grid.id == Building.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .join(Street, Street.id == Community.street_id)
    )
    if community_code:
        if db.session.scalars(select(Community.id).where(Community.code == community_code)).first() is None:
            raise NotFound(f"未找到社区编码 {community_code}", code="community_not_found")
        query = query.where(Community.code == community_code)
    else:
        if db.session.scalars(select(Street.id).where(Street.code == street_code)).first() is None:
            raise NotFound(f"未找到街道编码 {street_code}", code="street_not_found")
        query = query.where(Street.code == street_code)
    return query.order_by(Community.code, Grid.code, Building.code)


def count_signs(street_code: str | None = None, community_code: str | None = None) -> int:
    query = _scope(street_code, community_code)
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def iter_signs(street_code: str | None = None, community_code: str | None = None) -> Iterator[Sign]:
    """Yield one Sign per building, streaming rows in batches; contacts are read once per grid."""
    base_url = current_app.config["PUBLIC_BASE_URL"]
    contacts_by_grid: dict[int, tuple[SignContact, ...]] = {}
    rows = db.session.execute(
        _scope(street_code, community_code).execution_options(yield_per=BATCH)
    )
    for building, code, grid, community, street in rows:
        if grid.id not in contacts_by_grid:
            contacts_by_grid.clear()  # rows come grid by grid: keep only the current one
            contacts_by_grid[grid.id] = tuple(
                SignContact(c.role, c.name, c.phone_masked, c.categories)
                for c in building_contacts(grid)
            )
        yield Sign(
            building_name=building.name,
            address=building.address,
            community_name=community.name,
            grid_name=grid.name,
            url=building_url(base_url, code),
            contacts=contacts_by_grid[grid.id],
            street_name=street.name,
        )
        db.session.expunge(building)


def write_signs(
    out: BinaryIO,
    *,
    street_code: str | None = None,
    community_code: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the signs of a street or a community as one A4 PDF; returns the page count.

    Raises Invalid without a scope, NotFound for an unknown code, Invalid when no building
    there has an active code.
    """
    signs = iter_signs(street_code, community_code)
    try:
        return write_signs_pdf(signs, out, progress=progress)
    except ValueError:
        raise Invalid("该范围内没有已签发二维码的楼栋", code="no_signs") from None
