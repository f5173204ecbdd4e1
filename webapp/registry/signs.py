"""The printed signs (多网融合信息公示牌) of a community or a street, read lazily from the registry.

A sign is for calling people, so unlike the scan page (masked numbers) it prints full numbers,
but only numbers meant to be called: each staff member's work phone when they chose to publish
it (Person.work_phone, publish_phone), else their community office's (Community.office_phone);
the office's number and the 12345 hotline in the footer. A private mobile is never printed.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Callable

from flask import current_app
from sqlalchemy import func, select

from qr.signs import Sign, SignContact, write_signs_pdf
from qr.urls import building_url
from webapp.audit.trail import Action, record
from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.people.models import Person, Role
from webapp.registry.models import (
    Building,
    BuildingCode,
    Category,
    Community,
    Grid,
    Responsibility,
    Street,
)

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


def printed_phone(work_phone: str | None, publish_phone: bool, office_phone: str | None) -> str:
    """The number a sign prints for a staff member: their published work phone, else the office's."""
    if publish_phone and work_phone:
        return work_phone
    return office_phone or ""


def grid_sign_contacts(grid: Grid, office_phone: str | None) -> tuple[SignContact, ...]:
    """The grid worker first, then each professional of the grid's matrix with their categories
    (in category order); the grid worker is not listed twice."""
    contacts = []
    worker = db.session.get(Person, grid.worker_id) if grid.worker_id is not None else None
    if worker is not None:
        phone = printed_phone(worker.work_phone, worker.publish_phone, office_phone)
        contacts.append(SignContact(Role.GRID_WORKER.label, worker.name, phone))
    rows = db.session.execute(
        select(Person.id, Person.name, Person.work_phone, Person.publish_phone, Category.name)
        .join(Responsibility, Responsibility.person_id == Person.id)
        .join(Category, Category.id == Responsibility.category_id)
        .where(Responsibility.grid_id == grid.id, Category.is_active.is_(True))
        .order_by(Category.sort_order, Category.id)
    )
    professionals: dict[str, tuple[str, str, list[str]]] = {}
    for person_id, name, work_phone, publish_phone, category in rows:
        if person_id == grid.worker_id:
            continue
        entry = professionals.setdefault(
            person_id, (name, printed_phone(work_phone, publish_phone, office_phone), [])
        )
        entry[2].append(category)
    contacts.extend(
        SignContact(Role.PROFESSIONAL.label, name, phone, tuple(categories))
        for name, phone, categories in professionals.values()
    )
    return tuple(contacts)


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
            contacts_by_grid[grid.id] = grid_sign_contacts(grid, community.office_phone)
        yield Sign(
            building_name=building.name,
            address=building.address,
            community_name=community.name,
            grid_name=grid.name,
            url=building_url(base_url, code),
            contacts=contacts_by_grid[grid.id],
            street_name=street.name,
            office_phone=community.office_phone or "",
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


def print_community_signs(actor, community_code: str, out: BinaryIO, *, address: str | None = None) -> int:
    """Staff print one community's signs (synchronously: a community is a few dozen pages);
    audited. Raises NotFound for a community outside the actor's scope, Invalid when none of
    its buildings has an active code."""
    community = db.session.scalars(select(Community).where(Community.code == community_code)).first()
    if community is None or not actor.supervises_community(community.id, community.street_id):
        raise NotFound(f"未找到社区编码 {community_code}", code="community_not_found")
    pages = write_signs(out, community_code=community_code)
    record(Action.SIGNS_PRINTED, actor_id=actor.person_id, target_type="community", target_id=community_code,
           address=address, detail={"scope": "community", "code": community_code, "pages": pages})
    return pages
