"""A month of tickets over two communities, driven through the state machine at chosen times.

Every ticket lives one of SCENARIOS (on time, late, never accepted, reopened, rejected, merged,
rated and unrated, returned, reassigned, overdue now, awaiting the reporter, never routed),
reports and wishes, created at seeded random times from early September to NOW; the steps of
a scenario that would fall after NOW are not taken. Used by the figures, API, console and
browser tests.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tests.factories import make_person, make_registry
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.models import Building, Community, Grid, TicketKind, Unit
from webapp.tickets.models import Photo, Ticket
from webapp.tickets.state_machine import Action, ActionInput, open_ticket, transition

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=BEIJING).astimezone(timezone.utc)
PERIOD = (date(2026, 11, 1), date(2026, 11, 29))
EARLIEST = datetime(2026, 9, 10, 8, 0, tzinfo=BEIJING).astimezone(timezone.utc)

# name → steps (hours after submission, action, who, extra); who: holder, other, super,
# reporter, system. "unrouted" starts in the community's queue; "merged" is merged into a
# ticket of the same building filed just before it.
SCENARIOS: dict[str, list[tuple]] = {
    "on_time_rated_5": [(1, "accept", "holder", {}), (10, "resolve", "holder", {}), (20, "confirm", "reporter", {"rating": 5})],
    "late_rated_3": [(5, "accept", "holder", {}), (100, "resolve", "holder", {}), (110, "confirm", "reporter", {"rating": 3})],
    "never_accepted": [],
    "reopened_then_closed": [
        (1, "accept", "holder", {}), (5, "resolve", "holder", {}), (8, "reopen", "reporter", {"rating": 2}),
        (9, "accept", "holder", {}), (12, "resolve", "holder", {}), (15, "confirm", "reporter", {"rating": 4}),
    ],
    "rejected": [(0.5, "reject", "super", {"reason": "invalid"})],
    "merged": [(0.5, "merge", "super", {"reason": "duplicate"})],
    "auto_closed": [(1, "accept", "holder", {}), (20, "resolve", "holder", {}), (200, "auto_close", "system", {})],
    "returned_then_late": [
        (1, "accept", "holder", {}), (1.5, "return", "holder", {"reason": "wrong_grid"}),
        (3, "dispatch", "super", {"target": "holder"}), (4, "accept", "holder", {}),
    ],
    "reassigned_late": [(1, "accept", "holder", {}), (2.5, "reassign", "super", {"target": "other"}), (3, "accept", "other", {})],
    "accepted_overdue": [(1, "accept", "holder", {})],
    "resolved_waiting": [(1, "accept", "holder", {}), (30, "resolve", "holder", {})],
    "unrouted": [],
    "rated_1": [(0.5, "accept", "holder", {}), (2, "resolve", "holder", {}), (3, "confirm", "reporter", {"rating": 1})],
    "reopened_open": [(1, "accept", "holder", {}), (5, "resolve", "holder", {}), (6, "reopen", "reporter", {"rating": 1})],
}
WISH_SCENARIOS = ("on_time_rated_5", "never_accepted", "reopened_then_closed", "auto_closed", "resolved_waiting", "late_rated_3")


@dataclass
class Month:
    registry: object
    communities: list[Community]
    grids: list[Grid]  # two per community
    buildings: list[Building]
    workers: list[Person]  # one per grid
    supervisors: list[Person]  # community staff and wish reader of each community
    street_staff: Person
    admin: Person
    resident: Person
    tickets: list[str] = field(default_factory=list)


def _second_community(registry) -> tuple[Community, list[Grid], list[Building], list[Person], Person]:
    community = Community(code="FL-02", name="和平社区", street=registry.street)
    db.session.add(community)
    grids, buildings, workers = [], [], []
    for index in (1, 2):
        worker = make_person(f"和平网格员{index}", f"1381111000{index}", code=f"P-HP{index}")
        grid = Grid(code=f"FL-02-G{index}", name=f"和平第{index}网格", community=community, worker=worker)
        db.session.add(grid)
        db.session.add(StaffAssignment(person=worker, role=Role.GRID_WORKER, grid=grid))
        for number in (1, 2):
            building = Building(
                code=f"FL-02-G{index}-B{number}", name=f"和平{index}区{number}号楼",
                address=f"和平路{index * 10 + number}号", grid=grid,
            )
            building.units = [Unit(name="1单元", sort_order=1)]
            db.session.add(building)
            buildings.append(building)
        grids.append(grid)
        workers.append(worker)
    staff = make_person("钱进", "13622223333", code="P-QJ")
    db.session.add(StaffAssignment(person=staff, role=Role.COMMUNITY_STAFF, community=community))
    db.session.flush()
    return community, grids, buildings, workers, staff


def seed_month(tickets: int = 140, seed: int = 13) -> Month:
    registry = make_registry()
    community2, grids2, buildings2, workers2, staff2 = _second_community(registry)
    staff1 = registry.community_staff
    for staff, community in ((staff1, registry.community), (staff2, community2)):
        db.session.add(StaffAssignment(person=staff, role=Role.WISH_READER, community=community))
    street_staff = make_person("孙街道", "13633334444", code="P-SJD")
    db.session.add(StaffAssignment(person=street_staff, role=Role.STREET_STAFF, street=registry.street))
    admin = make_person("刘管理", "13644445555", code="P-ADM")
    db.session.add(StaffAssignment(person=admin, role=Role.ADMIN))
    resident = make_person("吴民", "13500006666")
    db.session.flush()
    month = Month(
        registry=registry, communities=[registry.community, community2],
        grids=[*registry.grids, *grids2], buildings=[*registry.buildings, *buildings2],
        workers=[*registry.workers, *workers2], supervisors=[staff1, staff2],
        street_staff=street_staff, admin=admin, resident=resident,
    )
    rng = random.Random(seed)
    names = list(SCENARIOS)
    span = (NOW - EARLIEST).total_seconds()
    for index in range(tickets):
        is_wish = index % 5 == 4
        name = WISH_SCENARIOS[index % len(WISH_SCENARIOS)] if is_wish else names[index % len(names)]
        building = month.buildings[rng.randrange(len(month.buildings))]
        if index % 7 == 0:  # a pair that recurs: the first building's lights
            building = month.buildings[0]
        created = EARLIEST + timedelta(seconds=rng.random() * span)
        category_code = "wish" if is_wish else rng.choice(["light", "light", "fire_lane", "elevator"])
        if index % 7 == 0 and not is_wish:
            category_code = "light"
        _live(month, index, name, building, category_code, created)
    db.session.commit()
    return month


def _grid_index(month: Month, building: Building) -> int:
    return next(i for i, g in enumerate(month.grids) if g.id == building.grid_id)


def _live(month: Month, index: int, name: str, building: Building, category_code: str, created: datetime) -> None:
    registry = month.registry
    category = registry.categories[category_code]
    grid_index = _grid_index(month, building)
    community_index = grid_index // 2
    supervisor = month.supervisors[community_index]
    is_wish = category.kind is TicketKind.WISH
    elevator = category_code == "elevator"
    holder = supervisor if is_wish else (registry.professional if elevator else month.workers[grid_index])
    other = month.workers[grid_index ^ 1]
    if is_wish or elevator:
        other = month.workers[grid_index]
    target_id = None
    if name == "merged":
        target = _file(month, f"{index}T", building, category, created - timedelta(hours=1), holder)
        target_id = target.id
    ticket = _file(month, str(index), building, category, created, None if name == "unrouted" else holder)
    people = {"holder": holder, "other": other, "super": supervisor, "reporter": month.resident}
    for hours, action, who, extra in SCENARIOS[name]:
        at = created + timedelta(hours=hours)
        if at > NOW:
            break
        actor = None if who == "system" else load_actor(people[who].id)
        given = ActionInput(reason=extra.get("reason"), rating=extra.get("rating"))
        if "target" in extra:
            given.target = people[extra["target"]].id
        if action == "merge":
            given.target = target_id
        if action == "resolve":
            given.note = "已处理"
            if not is_wish:
                given.photo_ids = [_photo(people[who])]
        transition(ticket, Action(action), actor, given, now=at)


def _file(month: Month, key: str, building: Building, category, created: datetime, holder: Person | None) -> Ticket:
    grid = next(g for g in month.grids if g.id == building.grid_id)
    ticket = Ticket(
        number=f"JY-T-{key}", kind=category.kind, category_id=category.id, building_id=building.id,
        grid_id=grid.id, community_id=grid.community_id, street_id=month.registry.street.id,
        description="楼道灯坏了，晚上很黑", reporter_id=month.resident.id, created_at=created, updated_at=created,
    )
    routing = (holder.id, "grid_worker") if holder is not None else (None, "community_queue")
    event = open_ticket(ticket, load_actor(month.resident.id), ActionInput(routing=routing, category=category), now=created)
    event.ticket = ticket
    db.session.add_all([ticket, event])
    db.session.flush()
    month.tickets.append(ticket.id)
    return ticket


def _photo(person: Person) -> str:
    photo = Photo(sha256=uuid.uuid4().hex * 2, content_type="image/jpeg", width=1, height=1, byte_size=1, uploader_id=person.id)
    db.session.add(photo)
    db.session.flush()
    return photo.id
