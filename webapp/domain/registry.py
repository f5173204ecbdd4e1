"""Reading the building registry: what a scan of a building's code shows.

The scan is the hottest path of the product. The building's static part (places, units,
contacts, categories) is kept per process for SCAN_CACHE_SECONDS; whether the code is still
active and which tickets are open are read on every scan, in one query.

The scan path reads through Core statements built once at import (their compiled form is
cached by SQLAlchemy) on a connection of its own rather than through the ORM session: the
session's unit of work, identity map and per-call statement building cost several times the
database's own work here (see bench/run.py). On PostgreSQL that connection is in autocommit,
which saves the BEGIN and ROLLBACK round trips of a read-only request.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, bindparam, literal_column, select

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


def _code_not_found() -> NotFound:
    return NotFound("未找到该二维码对应的楼栋", code="code_not_found")


def _code_revoked() -> Gone:
    return Gone("该二维码已停用，请扫描楼栋门口最新的二维码", code="code_revoked")


def resolve_code(code: str) -> int:
    """Return the building id behind a printed code, in the session's transaction.

    Raises NotFound for an unknown code and Gone for a revoked one.
    """
    if not is_valid_code(code):
        raise _code_not_found()
    row = db.session.execute(
        select(BuildingCode.building_id, BuildingCode.revoked_at).where(BuildingCode.code == code)
    ).first()
    if row is None:
        raise _code_not_found()
    if row.revoked_at is not None:
        raise _code_revoked()
    return row.building_id


def building_contacts(grid: Grid) -> list[Contact]:
    """The grid worker first, then each professional grid worker with their categories."""
    worker = grid.worker
    return [
        Contact(c["role"], c["name"], c["phone_masked"], tuple(c["categories"]))
        for c in _contacts(
            db.session.connection(),
            grid.id,
            grid.worker_id,
            worker.name if worker is not None else None,
            worker.phone if worker is not None else None,
        )
    ]


def active_categories() -> list[Category]:
    return list(
        db.session.scalars(
            select(Category)
            .where(Category.is_active.is_(True))
            .order_by(Category.kind, Category.sort_order, Category.id)
        )
    )


_buildings = Building.__table__
_grids = Grid.__table__
_communities = Community.__table__
_people = Person.__table__
_units = Unit.__table__
_categories = Category.__table__
_responsibilities = Responsibility.__table__
_codes = BuildingCode.__table__
_tickets = Ticket.__table__

_BUILDING = (
    select(
        _buildings.c.id,
        _buildings.c.name,
        _buildings.c.address,
        _communities.c.name.label("community"),
        _grids.c.id.label("grid_id"),
        _grids.c.name.label("grid"),
        _grids.c.worker_id,
        _people.c.name.label("worker_name"),
        _people.c.phone.label("worker_phone"),
    )
    .select_from(
        _buildings.join(_grids, _grids.c.id == _buildings.c.grid_id)
        .join(_communities, _communities.c.id == _grids.c.community_id)
        .outerjoin(_people, _people.c.id == _grids.c.worker_id)
    )
    .where(_buildings.c.id == bindparam("building_id"))
)
_UNITS = (
    select(_units.c.name)
    .where(_units.c.building_id == bindparam("building_id"))
    .order_by(_units.c.sort_order, _units.c.id)
)
# The same matrix rows as building_contacts(), one row per (professional, category).
_MATRIX = (
    select(_people.c.id, _people.c.name, _people.c.phone, _categories.c.name.label("category"))
    .select_from(
        _responsibilities.join(_people, _people.c.id == _responsibilities.c.person_id).join(
            _categories, _categories.c.id == _responsibilities.c.category_id
        )
    )
    .where(_responsibilities.c.grid_id == bindparam("grid_id"), _categories.c.is_active.is_(True))
    .order_by(_categories.c.sort_order, _categories.c.id)
)
_CATEGORIES = (
    select(_categories.c.code, _categories.c.name, _categories.c.kind)
    .where(_categories.c.is_active.is_(True))
    .order_by(_categories.c.kind, _categories.c.sort_order, _categories.c.id)
)


def _contacts(conn, grid_id, worker_id, worker_name, worker_phone) -> list[dict]:
    """The grid worker first, then each professional of the grid's matrix rows with their
    categories, in category order; the grid worker is not listed twice."""
    contacts = []
    if worker_id is not None:
        contacts.append(
            {
                "role": Role.GRID_WORKER.label,
                "name": worker_name,
                "phone_masked": mask_phone(worker_phone),
                "categories": [],
            }
        )
    professionals: dict[str, dict] = {}
    for row in conn.execute(_MATRIX, {"grid_id": grid_id}):
        if row.id == worker_id:
            continue
        contact = professionals.get(row.id)
        if contact is None:
            contact = professionals[row.id] = {
                "role": Role.PROFESSIONAL.label,
                "name": row.name,
                "phone_masked": mask_phone(row.phone),
                "categories": [],
            }
        contact["categories"].append(row.category)
    contacts.extend(professionals.values())
    return contacts


def _building_static(conn, building_id: int) -> dict:
    """The cached part of a scan, read on `conn` in four statements."""
    b = conn.execute(_BUILDING, {"building_id": building_id}).one()
    contacts = _contacts(conn, b.grid_id, b.worker_id, b.worker_name, b.worker_phone)
    return {
        "building": {
            "id": b.id,
            "name": b.name,
            "address": b.address,
            "community": b.community,
            "grid": b.grid,
        },
        "units": list(conn.scalars(_UNITS, {"building_id": building_id})),
        "contacts": contacts,
        "categories": [
            {"code": c.code, "name": c.name, "kind": c.kind.value}
            for c in conn.execute(_CATEGORIES)
        ],
    }


class _StaticCache:
    """A small per-process cache with a time limit; the registry changes by import only."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, dict]] = {}

    def get(self, building_id: int, ttl: float, conn) -> dict:
        now = time.monotonic()
        hit = self._entries.get(building_id)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        value = _building_static(conn, building_id)
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


# status IN ('pending', ...) written into the SQL: a bound IN list is an "expanding" parameter
# that SQLAlchemy re-renders on every execution, which costs more than the query itself.
_OPEN_STATUS_IN = _tickets.c.status.in_(
    [literal_column(f"'{status.value}'") for status in OPEN_STATUSES]
)

# The code, whether it is revoked, and the open reports at its building, in one statement:
# one row per open report (newest first), or a single row with null ticket columns when there
# are none or the code is revoked.
_SCAN = (
    select(
        _codes.c.building_id,
        _codes.c.revoked_at,
        _tickets.c.id,
        _tickets.c.number,
        _categories.c.name.label("category"),
        _tickets.c.description,
        _tickets.c.status,
        _tickets.c.created_at,
        _tickets.c.me_too_count,
    )
    .select_from(
        _codes.outerjoin(
            _tickets,
            and_(
                _tickets.c.building_id == _codes.c.building_id,
                _codes.c.revoked_at.is_(None),
                _OPEN_STATUS_IN,
                _tickets.c.kind == TicketKind.REPORT,
                _tickets.c.needs_review.is_(False),
            ),
        ).outerjoin(_categories, _categories.c.id == _tickets.c.category_id)
    )
    .where(_codes.c.code == bindparam("code"))
    .order_by(_tickets.c.created_at.desc())
    .limit(OPEN_TICKETS_SHOWN)
)


def _read_connection():
    """A pooled connection for the scan's reads, outside the session's transaction."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    # SQLite: toggling autocommit costs a PRAGMA on return to the pool; a plain read is cheaper.
    return engine.connect()


def scan(code: str) -> dict:
    """Everything a scan of a building's code shows, per the contract.

    The same content as the building's static part plus open_reports(), with created_at as
    an aware UTC datetime. Raises NotFound (unknown code) or Gone (revoked code).
    """
    if not is_valid_code(code):
        raise _code_not_found()
    with _read_connection() as conn:
        rows = conn.execute(_SCAN, {"code": code}).all()
        if not rows:
            raise _code_not_found()
        if rows[0].revoked_at is not None:
            raise _code_revoked()
        building_id = rows[0].building_id
        static = static_cache.get(building_id, current_app.config["SCAN_CACHE_SECONDS"], conn)
    return {
        **static,
        "open_tickets": [
            {
                "id": r.id,
                "number": r.number,
                "category": r.category,
                "summary": r.description[:SUMMARY_LENGTH],
                "status": r.status.value,
                "created_at": r.created_at,
                "me_too_count": r.me_too_count,
            }
            for r in rows
            if r.id is not None
        ],
    }
