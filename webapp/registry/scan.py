"""Reading the building registry: what a scan of a building's code shows.

The scan is the hottest path of the product. The building's static part (places, units,
contacts, categories) is kept per process for SCAN_CACHE_SECONDS (per building, per grid and
for the category list: see _StaticCache); whether the code is still active and which tickets
are open are read on every scan, in one query.

The scan path reads through Core statements built once at import on a connection of its own
(webapp.reads) rather than through the ORM session: the session's unit of work, identity map
and per-call statement building cost several times the database's own work here (see
bench/run.py). On PostgreSQL that connection is in autocommit, which saves the BEGIN and
ROLLBACK round trips of a read-only request, and the scan's one statement runs on psycopg
itself (PreparedStatement).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timezone

from flask import current_app
from sqlalchemy import String, and_, bindparam, literal_column, select, type_coerce

from qr.codes import is_valid_code
from webapp.errors import Gone, NotFound
from webapp.extensions import db
from webapp.people.models import Person, Role
from webapp.people.persons import mask_phone
from webapp.reads import PreparedStatement, read_connection
from webapp.registry.models import (
    Building,
    BuildingCode,
    Category,
    Community,
    Grid,
    Responsibility,
    Street,
    TicketKind,
    Unit,
)
from webapp.tickets import wishes
from webapp.tickets.models import OPEN_STATUSES, Ticket

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


# The building behind a code and the places above it: the FROM and columns of a query that
# callers extend (submission adds the unit, routing's facts and a duplicate check), read back
# with place_of_row.
PLACE_OF_CODE = (
    BuildingCode.__table__.join(Building.__table__, Building.id == BuildingCode.building_id)
    .join(Grid.__table__, Grid.id == Building.grid_id)
    .join(Community.__table__, Community.id == Grid.community_id)
    .join(Street.__table__, Street.id == Community.street_id)
)
PLACE_COLUMNS = (
    BuildingCode.revoked_at,
    Building.id.label("building_id"),
    Building.name.label("building_name"),
    Building.address.label("building_address"),
    Grid.id.label("grid_id"),
    Grid.name.label("grid_name"),
    Community.id.label("community_id"),
    Community.name.label("community_name"),
    Street.id.label("street_id"),
    Street.ticket_prefix,
)


@dataclass(frozen=True)
class Place:
    building_id: int
    building_name: str
    building_address: str
    grid_id: int
    grid_name: str
    community_id: int
    community_name: str
    street_id: int
    ticket_prefix: str

    def shown(self) -> dict:
        """The building as tickets show it (schemas.places.BuildingSchema)."""
        return {
            "id": self.building_id, "name": self.building_name, "address": self.building_address,
            "community": self.community_name, "grid": self.grid_name,
        }


def check_code(code: str) -> None:
    """Raise NotFound for a string that cannot be a code (before any query)."""
    if not is_valid_code(code):
        raise _code_not_found()


def place_of_row(row) -> Place:
    """The Place of a row of a query over PLACE_OF_CODE with PLACE_COLUMNS (None: no row).

    Raises NotFound for an unknown code and Gone for a revoked one.
    """
    if row is None:
        raise _code_not_found()
    if row.revoked_at is not None:
        raise _code_revoked()
    return Place(**{name: getattr(row, name) for name in Place.__dataclass_fields__})


@dataclass(frozen=True)
class CategoryInfo:
    """An active category as submission needs it (deadlines, routing, names)."""

    id: int
    code: str
    name: str
    kind: TicketKind
    department_id: int | None
    accept_hours: int
    resolve_hours: int
    uses_workdays: bool


_ACTIVE_CATEGORIES = select(
    *(Category.__table__.c[name] for name in CategoryInfo.__dataclass_fields__)
).where(Category.__table__.c.is_active.is_(True))
_active: tuple[float, dict[str, CategoryInfo]] | None = None


def active_category(code: str) -> CategoryInfo | None:
    """The active category of this code, or None; the list is kept per process for
    SCAN_CACHE_SECONDS (categories change by import only)."""
    global _active
    ttl = current_app.config["SCAN_CACHE_SECONDS"]
    now = time.monotonic()
    held = _active
    if held is None or now - held[0] >= ttl:
        rows = db.session.execute(_ACTIVE_CATEGORIES).all()
        held = (now, {row.code: CategoryInfo(*row) for row in rows})
        if ttl > 0:
            _active = held
    return held[1].get(code)


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


_buildings = Building.__table__
_grids = Grid.__table__
_communities = Community.__table__
_people = Person.__table__
_units = Unit.__table__
_categories = Category.__table__
_responsibilities = Responsibility.__table__
_codes = BuildingCode.__table__
_tickets = Ticket.__table__

_BUILDING_UNITS = (
    select(
        _buildings.c.id,
        _buildings.c.name,
        _buildings.c.address,
        _buildings.c.grid_id,
        _units.c.name.label("unit"),
    )
    .select_from(_buildings.outerjoin(_units, _units.c.building_id == _buildings.c.id))
    .where(_buildings.c.id == bindparam("building_id"))
    .order_by(_units.c.sort_order, _units.c.id)
)
_GRID = (
    select(
        _grids.c.name,
        _communities.c.name.label("community"),
        _grids.c.worker_id,
        _people.c.name.label("worker_name"),
        _people.c.phone.label("worker_phone"),
    )
    .select_from(
        _grids.join(_communities, _communities.c.id == _grids.c.community_id).outerjoin(
            _people, _people.c.id == _grids.c.worker_id
        )
    )
    .where(_grids.c.id == bindparam("grid_id"))
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


def _grid_part(conn, grid_id: int) -> dict:
    """What every building of a grid shows alike: grid and community names, contacts."""
    g = conn.execute(_GRID, {"grid_id": grid_id}).one()
    return {
        "community": g.community,
        "grid": g.name,
        "contacts": _contacts(conn, grid_id, g.worker_id, g.worker_name, g.worker_phone),
    }


def _category_list(conn) -> list[dict]:
    return [
        {"code": c.code, "name": c.name, "kind": c.kind.value} for c in conn.execute(_CATEGORIES)
    ]


class _StaticCache:
    """Per-process caches with a time limit; the registry changes by import only.

    Three layers, so that a building not seen for a while costs one query when its grid and
    the category list are known (most scans: a building is scanned rarely, a grid often): the
    category list, each grid's part, and each building's whole static part. An entry built
    from other layers keeps their oldest time, so nothing shown is older than the limit.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, dict]] = {}
        self._grids: dict[int, tuple[float, dict]] = {}
        self._categories: tuple[float, list[dict]] | None = None

    def get(self, building_id: int, ttl: float, conn) -> dict:
        now = time.monotonic()
        hit = self._entries.get(building_id)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        rows = conn.execute(_BUILDING_UNITS, {"building_id": building_id}).all()
        b = rows[0]
        grid_hit = self._grids.get(b.grid_id)
        if grid_hit is None or now - grid_hit[0] >= ttl:
            grid_hit = (now, _grid_part(conn, b.grid_id))
        categories_hit = self._categories
        if categories_hit is None or now - categories_hit[0] >= ttl:
            categories_hit = (now, _category_list(conn))
        grid = grid_hit[1]
        value = {
            "building": {
                "id": b.id,
                "name": b.name,
                "address": b.address,
                "community": grid["community"],
                "grid": grid["grid"],
            },
            "units": [r.unit for r in rows if r.unit is not None],
            "contacts": grid["contacts"],
            "categories": categories_hit[1],
        }
        if ttl > 0:
            if len(self._entries) > 50_000:
                self._entries.clear()
                self._grids.clear()
            self._grids[b.grid_id] = grid_hit
            self._categories = categories_hit
            self._entries[building_id] = (min(grid_hit[0], categories_hit[0]), value)
        return value

    def clear(self) -> None:
        global _active
        self._entries.clear()
        self._grids.clear()
        self._categories = None
        _active = None


static_cache = _StaticCache()


# status IN ('pending', ...) written into the SQL: a bound IN list is an "expanding" parameter
# that SQLAlchemy re-renders on every execution, which costs more than the query itself.
_OPEN_STATUS_IN = _tickets.c.status.in_(
    [literal_column(f"'{status.value}'") for status in OPEN_STATUSES]
)
# What the public may see of a building's tickets: open reports, checked text; never a wish
# (wishes.PUBLIC_KIND).
_PUBLIC_OPEN_REPORT = and_(
    _OPEN_STATUS_IN,
    _tickets.c.kind == wishes.PUBLIC_KIND,
    _tickets.c.needs_review.is_(False),
)
_OPEN_REPORT_COLUMNS = (
    _tickets.c.id,
    _tickets.c.number,
    _categories.c.name.label("category"),
    _tickets.c.description,
    type_coerce(_tickets.c.status, String).label("status"),  # its value, as every driver reads it
    _tickets.c.created_at,
    _tickets.c.me_too_count,
)
# The code, whether it is revoked, and the open reports at its building, in one statement:
# one row per open report (newest first), or a single row with null ticket columns when there
# are none or the code is revoked.
_SCAN = (
    select(_codes.c.building_id, _codes.c.revoked_at, *_OPEN_REPORT_COLUMNS)
    .select_from(
        _codes.outerjoin(
            _tickets,
            and_(
                _tickets.c.building_id == _codes.c.building_id,
                _codes.c.revoked_at.is_(None),
                _PUBLIC_OPEN_REPORT,
            ),
        ).outerjoin(_categories, _categories.c.id == _tickets.c.category_id)
    )
    .where(_codes.c.code == bindparam("code"))
    .order_by(_tickets.c.created_at.desc())
    .limit(OPEN_TICKETS_SHOWN)
)


_SCAN_QUERY = PreparedStatement(_SCAN)


def _open_report(row) -> dict:
    """An open report of a row of _SCAN as the public may see it: no reporter, never a wish."""
    _building_id, _revoked_at, ticket_id, number, category, description, status, created_at, me_too = row
    return {
        "id": ticket_id,
        "number": number,
        "category": category,
        "summary": description[:SUMMARY_LENGTH],
        "status": status,
        "created_at": created_at.astimezone(timezone.utc),  # whatever the session's time zone
        "me_too_count": me_too,
    }


def scan(code: str) -> dict:
    """Everything a scan of a building's code shows, per the contract.

    The same content as the building's static part plus its open reports (newest first, at
    most OPEN_TICKETS_SHOWN), with created_at as an aware UTC datetime. Raises NotFound
    (unknown code) or Gone (revoked code).
    """
    if not is_valid_code(code):
        raise _code_not_found()
    with read_connection() as conn:
        rows = _SCAN_QUERY.rows(conn, {"code": code})
        if not rows:
            raise _code_not_found()
        building_id, revoked_at = rows[0][0], rows[0][1]
        if revoked_at is not None:
            raise _code_revoked()
        static = static_cache.get(building_id, current_app.config["SCAN_CACHE_SECONDS"], conn)
    return {**static, "open_tickets": [_open_report(r) for r in rows if r[2] is not None]}
