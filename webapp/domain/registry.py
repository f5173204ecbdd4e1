"""Reading the building registry: what a scan of a building's code shows.

The scan is the hottest path of the product. The building's static part (places, units,
contacts, categories) is kept per process for SCAN_CACHE_SECONDS; whether the code is still
active and which tickets are open are read on every scan.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from qr.codes import is_valid_code
from webapp.domain.people import mask_phone
from webapp.errors import Gone, NotFound
from webapp.extensions import db
from webapp.models import (
    OPEN_STATUSES,
    Building,
    BuildingCode,
    Category,
    Community,
    Grid,
    Person,
    Responsibility,
    Role,
    Ticket,
    TicketKind,
    Unit,
)

SUMMARY_LENGTH = 40
OPEN_TICKETS_SHOWN = 20


@dataclass(frozen=True)
class Contact:
    role: str
    name: str
    phone_masked: str
    categories: tuple[str, ...]


def resolve_code(code: str) -> int:
    """Return the building id behind a printed code.

    Raises NotFound for an unknown code and Gone for a revoked one.
    """
    if not is_valid_code(code):
        raise NotFound("未找到该二维码对应的楼栋", code="code_not_found")
    row = db.session.execute(
        select(BuildingCode.building_id, BuildingCode.revoked_at).where(BuildingCode.code == code)
    ).first()
    if row is None:
        raise NotFound("未找到该二维码对应的楼栋", code="code_not_found")
    if row.revoked_at is not None:
        raise Gone("该二维码已停用，请扫描楼栋门口最新的二维码", code="code_revoked")
    return row.building_id


def building_contacts(grid: Grid) -> list[Contact]:
    """The grid worker first, then each professional grid worker with their categories."""
    contacts: list[Contact] = []
    if grid.worker is not None:
        contacts.append(
            Contact(Role.GRID_WORKER.label, grid.worker.name, mask_phone(grid.worker.phone), ())
        )
    rows = db.session.execute(
        select(Person, Category.name)
        .join(Responsibility, Responsibility.person_id == Person.id)
        .join(Category, Category.id == Responsibility.category_id)
        .where(Responsibility.grid_id == grid.id, Category.is_active.is_(True))
        .order_by(Category.sort_order, Category.id)
    ).all()
    by_person: dict[str, tuple[Person, list[str]]] = {}
    for person, category_name in rows:
        by_person.setdefault(person.id, (person, []))[1].append(category_name)
    for person, names in by_person.values():
        if grid.worker_id == person.id:
            continue
        contacts.append(
            Contact(Role.PROFESSIONAL.label, person.name, mask_phone(person.phone), tuple(names))
        )
    return contacts


def active_categories() -> list[Category]:
    return list(
        db.session.scalars(
            select(Category)
            .where(Category.is_active.is_(True))
            .order_by(Category.kind, Category.sort_order, Category.id)
        )
    )


def _building_static(building_id: int) -> dict:
    building = db.session.get(Building, building_id)
    grid = db.session.get(Grid, building.grid_id)
    community = db.session.get(Community, grid.community_id)
    units = db.session.scalars(
        select(Unit.name).where(Unit.building_id == building_id).order_by(Unit.sort_order, Unit.id)
    ).all()
    return {
        "building": {
            "id": building.id,
            "name": building.name,
            "address": building.address,
            "community": community.name,
            "grid": grid.name,
        },
        "units": list(units),
        "contacts": [
            {
                "role": c.role,
                "name": c.name,
                "phone_masked": c.phone_masked,
                "categories": list(c.categories),
            }
            for c in building_contacts(grid)
        ],
        "categories": [
            {"code": c.code, "name": c.name, "kind": c.kind.value} for c in active_categories()
        ],
    }


class _StaticCache:
    """A small per-process cache with a time limit; the registry changes by import only."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, dict]] = {}

    def get(self, building_id: int, ttl: float) -> dict:
        now = time.monotonic()
        hit = self._entries.get(building_id)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        value = _building_static(building_id)
        if ttl > 0:
            if len(self._entries) > 50_000:
                self._entries.clear()
            self._entries[building_id] = (now, value)
        return value

    def clear(self) -> None:
        self._entries.clear()


static_cache = _StaticCache()


def open_reports(building_id: int) -> list[dict]:
    """Open reports at a building as the public may see them: no reporter, never a wish."""
    rows = db.session.execute(
        select(
            Ticket.id,
            Ticket.number,
            Category.name,
            Ticket.description,
            Ticket.status,
            Ticket.created_at,
            Ticket.me_too_count,
        )
        .join(Category, Category.id == Ticket.category_id)
        .where(
            Ticket.building_id == building_id,
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.kind == TicketKind.REPORT,
            Ticket.needs_review.is_(False),
        )
        .order_by(Ticket.created_at.desc())
        .limit(OPEN_TICKETS_SHOWN)
    ).all()
    return [
        {
            "id": r.id,
            "number": r.number,
            "category": r.name,
            "summary": r.description[:SUMMARY_LENGTH],
            "status": r.status.value,
            "created_at": r.created_at,
            "me_too_count": r.me_too_count,
        }
        for r in rows
    ]


def scan(code: str) -> dict:
    """Everything a scan of a building's code shows, per the contract.

    Raises NotFound (unknown code) or Gone (revoked code).
    """
    building_id = resolve_code(code)
    static = static_cache.get(building_id, current_app.config["SCAN_CACHE_SECONDS"])
    return {**static, "open_tickets": open_reports(building_id)}
