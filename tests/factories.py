"""Factories: small, realistic registries built straight through the models."""
from __future__ import annotations

from dataclasses import dataclass, field

from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.codes import issue_code
from webapp.registry.models import (
    Building,
    Category,
    Community,
    Department,
    Grid,
    Responsibility,
    Street,
    TicketKind,
    Unit,
)


@dataclass
class Registry:
    street: Street
    community: Community
    grids: list[Grid]
    buildings: list[Building]
    codes: dict[int, str]
    workers: list[Person]
    professional: Person
    community_staff: Person
    categories: dict[str, Category] = field(default_factory=dict)


def make_person(name: str, phone: str = "13800000000", **kwargs) -> Person:
    person = Person(name=name, phone=phone, **kwargs)
    db.session.add(person)
    db.session.flush()
    return person


def make_registry(buildings_per_grid: int = 2) -> Registry:
    """One street, one community, two grids with their workers, a housing department whose
    professional grid worker owns the elevator category in both grids, and codes for all."""
    street = Street(code="FL", name="凤凰街道", ticket_prefix="JY")
    community = Community(code="FL-01", name="幸福社区", street=street)
    db.session.add_all([street, community])
    workers = [
        make_person("张丽", "13812345678", code="P-ZL"),
        make_person("王强", "13987654321", code="P-WQ"),
    ]
    professional = make_person("李建国", "13700001111", code="P-LJG")
    community_staff = make_person("赵敏", "13600002222", code="P-ZM")
    housing = Department(code="ZJ", name="住建局")
    db.session.add(housing)
    categories = {
        "light": Category(code="light", name="楼道照明", kind=TicketKind.REPORT, sort_order=1),
        "fire_lane": Category(
            code="fire_lane", name="消防通道堵塞", kind=TicketKind.REPORT, sort_order=2,
            accept_hours=1, resolve_hours=24,
        ),
        "elevator": Category(
            code="elevator", name="电梯故障", kind=TicketKind.REPORT, department=housing,
            sort_order=3,
        ),
        "wish": Category(code="wish", name="心语心愿", kind=TicketKind.WISH, sort_order=9),
    }
    db.session.add_all(categories.values())
    grids, buildings = [], []
    for index, worker in enumerate(workers, start=1):
        grid = Grid(code=f"FL-01-G{index}", name=f"第{index}网格", community=community, worker=worker)
        db.session.add(grid)
        grids.append(grid)
        db.session.add(StaffAssignment(person=worker, role=Role.GRID_WORKER, grid=grid))
        for number in range(1, buildings_per_grid + 1):
            building = Building(
                code=f"FL-01-G{index}-B{number}",
                name=f"{index}区{number}号楼",
                address=f"凤凰路{index * 100 + number}号",
                grid=grid,
            )
            building.units = [Unit(name=f"{u}单元", sort_order=u) for u in (1, 2)]
            db.session.add(building)
            buildings.append(building)
    db.session.flush()
    for grid in grids:
        db.session.add(
            Responsibility(grid_id=grid.id, category=categories["elevator"], person_id=professional.id)
        )
    db.session.add(
        StaffAssignment(person=professional, role=Role.PROFESSIONAL, department=housing)
    )
    db.session.add(
        StaffAssignment(person=community_staff, role=Role.COMMUNITY_STAFF, community=community)
    )
    db.session.flush()
    codes = {b.id: issue_code(b.id).code for b in buildings}
    db.session.commit()
    return Registry(
        street=street,
        community=community,
        grids=grids,
        buildings=buildings,
        codes=codes,
        workers=workers,
        professional=professional,
        community_staff=community_staff,
        categories=categories,
    )


def session_headers(person: Person) -> dict:
    """An Authorization header for a fresh session of this person (committed), no HTTP."""
    from webapp.people.auth import start_session

    token, _ = start_session(person.id)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def auth_headers(client, person: Person | None = None, *, openid: str | None = None) -> dict:
    """Log in through the dev login (DEV_LOGIN is on in tests) and return bearer headers."""
    if person is not None:
        if not person.openid:
            person.openid = f"test-{person.id}"
            db.session.commit()
        openid = person.openid
    response = client.post("/api/v1/auth/dev", json={"openid": openid})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def jpeg_bytes(size=(64, 48), color=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def upload_photo(client, headers: dict, data: bytes | None = None) -> str:
    import io

    response = client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(data or jpeg_bytes()), "photo.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def submit(client, headers: dict, code: str, *, key: str | None = None, **fields):
    import uuid

    body = {"code": code, "kind": "report", "category": "light",
            "description": "3单元楼道灯坏了一周，晚上很黑"}
    body.update(fields)
    return client.post(
        "/api/v1/tickets", json=body,
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )
