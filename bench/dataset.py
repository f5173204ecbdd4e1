"""A realistic registry for benchmarks, written in bulk with SQLAlchemy Core.

The schema comes from the migrations (flask_migrate.upgrade), never create_all. Rows are
inserted with executemany and explicit integer ids; on PostgreSQL the id sequences are moved
past them afterwards so that later inserts by the application do not collide.

Default shape: 1 street, 15 communities, 105 grids, ~5,000 buildings with 1-6 units each,
12 categories (10 reports, 2 wishes) over 4 departments, one grid worker per grid, one
professional per department owning that department's categories in every grid (the matrix),
one active code per building plus some revoked old codes, and a few thousand tickets: open
reports, closed reports and wishes, spread unevenly over the buildings, each with the
idempotency record its submission left.
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建国建华志强海燕文华红梅"
ROADS = ["凤凰路", "和平路", "解放路", "建设路", "人民路", "文化路", "新华路", "中山路", "长江路", "黄河路"]
COMMUNITY_NAMES = [
    "幸福", "和谐", "阳光", "友谊", "春晖", "锦绣", "金桥", "翠竹", "兴华", "安康",
    "华苑", "新城", "丽景", "东湖", "西园",
]
DEPARTMENTS = [
    ("ZJ", "住建局"),
    ("SW", "水务集团"),
    ("GD", "供电公司"),
    ("RQ", "燃气公司"),
]
# (code, name, kind, department code or None)
CATEGORIES = [
    ("light", "楼道照明", "report", None),
    ("fire_lane", "消防通道堵塞", "report", None),
    ("garbage", "垃圾清运", "report", None),
    ("parking", "乱停乱放", "report", None),
    ("noise", "噪音扰民", "report", None),
    ("greenery", "绿化养护", "report", None),
    ("elevator", "电梯故障", "report", "ZJ"),
    ("water", "供水故障", "report", "SW"),
    ("power", "停电跳闸", "report", "GD"),
    ("gas", "燃气泄漏", "report", "RQ"),
    ("wish", "心语心愿", "wish", None),
    ("suggestion", "意见建议", "wish", None),
]
DESCRIPTIONS = [
    "楼道灯坏了，晚上很黑，老人上下楼不安全，请尽快修理",
    "消防通道被电动车和杂物堵住了，万一着火消防车进不来",
    "垃圾桶已经满了两天没人清运，味道很大，夏天容易招蚊虫",
    "小区门口车辆乱停，早上上班高峰期出不去，希望能管一管",
    "楼上装修每天早上七点就开始打钻，严重影响休息",
    "电梯经常卡在三楼，门关不上，住户出行很不方便",
    "地下室水管漏水，积水越来越多，担心影响地基",
    "单元楼里经常跳闸，冰箱里的东西都坏了",
]
OPEN = ("pending", "dispatched", "accepted", "resolved")


@dataclass
class Shape:
    communities: int = 15
    grids_per_community: int = 7
    buildings: int = 5000
    open_reports: int = 4000
    closed_reports: int = 3000
    wishes: int = 800
    revoked_codes: int = 200
    seed: int = 20261122


@dataclass
class Built:
    codes: list[str]  # the active code of every building, in building order
    revoked: list[str]
    counts: dict[str, int]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _phone(rng: random.Random) -> str:
    return rng.choice(["138", "139", "137", "136", "150", "186"]) + f"{rng.randrange(10**8):08d}"


def _migrated_table(model_table: sa.Table, present: set[str]) -> tuple[sa.Table, dict]:
    """The model's table cut down to the columns the migrations created, and the values of
    the model's plain defaults for those columns (the models may run ahead of the migrations
    while work is in progress)."""
    columns, fill = [], {}
    for column in model_table.c:
        if column.name not in present:
            continue
        columns.append(sa.Column(column.name, column.type, primary_key=column.primary_key))
        default = column.default
        if default is None:
            fill[column.name] = None
        elif default.is_scalar:
            fill[column.name] = default.arg
        elif default.is_callable:
            fill[column.name] = default.arg(None)
    return sa.Table(model_table.name, sa.MetaData(), *columns), fill


def build(shape: Shape | None = None) -> Built:
    """Fill the (migrated, empty) database of the current app context. Returns the codes."""
    from qr.codes import new_code
    from webapp.columns import new_id
    from webapp.extensions import db

    shape = shape or Shape()
    rng = random.Random(shape.seed)
    md = db.metadata.tables
    inspector = sa.inspect(db.engine)
    existing = set(inspector.get_table_names())
    db_columns = {t: {c["name"] for c in inspector.get_columns(t)} for t in md if t in existing}
    now = datetime.now(timezone.utc)
    counts: dict[str, int] = {}

    def insert(table: str, rows: list[dict]) -> None:
        if rows:
            target, fill = _migrated_table(md[table], db_columns[table])
            rows = [{**fill, **{k: v for k, v in r.items() if k in target.c}} for r in rows]
            db.session.execute(sa.insert(target), rows)
        counts[table] = counts.get(table, 0) + len(rows)

    insert("streets", [{"id": 1, "code": "FL", "name": "凤凰街道", "ticket_prefix": "JY"}])
    communities = [
        {"id": i, "code": f"FL-{i:02d}", "name": f"{COMMUNITY_NAMES[(i - 1) % 15]}社区", "street_id": 1}
        for i in range(1, shape.communities + 1)
    ]
    insert("communities", communities)
    insert("departments", [{"id": i, "code": c, "name": n} for i, (c, n) in enumerate(DEPARTMENTS, 1)])
    dept_ids = {c: i for i, (c, _n) in enumerate(DEPARTMENTS, 1)}
    categories = [
        {
            "id": i,
            "code": code,
            "name": name,
            "kind": kind,
            "department_id": dept_ids.get(dept) if dept else None,
            "accept_hours": 2,
            "resolve_hours": 72,
            "uses_workdays": False,
            "sort_order": i,
            "is_active": True,
        }
        for i, (code, name, kind, dept) in enumerate(CATEGORIES, 1)
    ]
    insert("categories", categories)
    report_cats = [c for c in categories if c["kind"] == "report"]
    wish_cats = [c for c in categories if c["kind"] == "wish"]

    people: list[dict] = []
    assignments: list[dict] = []

    def person(code: str) -> str:
        pid = new_id()
        people.append(
            {"id": pid, "code": code, "name": _name(rng), "phone": _phone(rng), "openid": None,
             "is_away": False, "created_at": now}
        )
        return pid

    grids = []
    grid_id = 0
    for community in communities:
        staff = person(f"P-CS-{community['id']:02d}")
        assignments.append({"person_id": staff, "role": "community_staff", "community_id": community["id"]})
        for g in range(1, shape.grids_per_community + 1):
            grid_id += 1
            worker = person(f"P-GW-{grid_id:03d}")
            grids.append(
                {"id": grid_id, "code": f"{community['code']}-G{g}", "name": f"第{g}网格",
                 "community_id": community["id"], "worker_id": worker, "standin_id": None}
            )
            assignments.append({"person_id": worker, "role": "grid_worker", "grid_id": grid_id})
    professionals = {}
    for code, _name_ in DEPARTMENTS:
        pid = person(f"P-PRO-{code}")
        professionals[code] = pid
        assignments.append({"person_id": pid, "role": "professional", "department_id": dept_ids[code]})
    insert("people", people)
    insert("grids", grids)
    for i, row in enumerate(assignments, 1):
        row.setdefault("street_id", None)
        row.setdefault("community_id", None)
        row.setdefault("grid_id", None)
        row.setdefault("department_id", None)
        row["id"] = i
    insert("staff_assignments", assignments)
    responsibilities = []
    for grid in grids:
        for cat in categories:
            dept = CATEGORIES[cat["id"] - 1][3]
            if dept:
                responsibilities.append(
                    {"id": len(responsibilities) + 1, "grid_id": grid["id"], "category_id": cat["id"],
                     "person_id": professionals[dept], "standin_id": None}
                )
    insert("responsibilities", responsibilities)

    buildings, units = [], []
    unit_ids: dict[int, list[int]] = {}
    per_grid = shape.buildings // len(grids)
    extra = shape.buildings - per_grid * len(grids)
    building_id = unit_id = 0
    for index, grid in enumerate(grids):
        for n in range(1, per_grid + (1 if index < extra else 0) + 1):
            building_id += 1
            buildings.append(
                {"id": building_id, "code": f"{grid['code']}-B{n}", "name": f"{n}号楼",
                 "address": f"{rng.choice(ROADS)}{rng.randint(1, 999)}号{n}号楼", "grid_id": grid["id"]}
            )
            unit_ids[building_id] = []
            for u in range(1, rng.randint(1, 6) + 1):
                unit_id += 1
                units.append({"id": unit_id, "building_id": building_id, "name": f"{u}单元", "sort_order": u})
                unit_ids[building_id].append(unit_id)
    insert("buildings", buildings)
    insert("units", units)

    active, revoked = [], []
    code_rows = []
    for b in buildings:
        code = new_code()
        active.append(code)
        code_rows.append({"id": len(code_rows) + 1, "code": code, "building_id": b["id"],
                          "created_at": now - timedelta(days=30), "revoked_at": None})
    for b in rng.sample(buildings, min(shape.revoked_codes, len(buildings))):
        code = new_code()
        revoked.append(code)
        code_rows.append({"id": len(code_rows) + 1, "code": code, "building_id": b["id"],
                          "created_at": now - timedelta(days=90), "revoked_at": now - timedelta(days=30)})
    insert("building_codes", code_rows)

    grid_of = {g["id"]: g for g in grids}
    # Uneven spread: a fifth of the buildings get most tickets (old blocks with lifts and leaks).
    busy = rng.sample(buildings, len(buildings) // 5)
    tickets = []
    serial = 0

    def ticket(kind: str, status: str, cat: dict) -> dict:
        nonlocal serial
        serial += 1
        b = rng.choice(busy) if rng.random() < 0.7 else rng.choice(buildings)
        grid = grid_of[b["grid_id"]]
        created = now - timedelta(minutes=rng.randint(5, 60 * 24 * 60))
        dept = CATEGORIES[cat["id"] - 1][3]
        return {
            "id": new_id(),
            "number": f"JY-{created:%Y%m%d}-{serial:05d}",
            "kind": kind,
            "status": status,
            "category_id": cat["id"],
            "building_id": b["id"],
            "unit_id": rng.choice(unit_ids[b["id"]]),
            "grid_id": grid["id"],
            "community_id": grid["community_id"],
            "street_id": 1,
            "description": rng.choice(DESCRIPTIONS),
            "reporter_id": None,
            "reporter_key": None,
            "is_anonymous": kind == "wish",
            "is_rider_report": False,
            "contact_phone": None,
            "assignee_id": professionals[dept] if dept else grid["worker_id"],
            "created_at": created,
            "updated_at": created,
            "dispatched_at": created if status != "pending" else None,
            "accepted_at": None,
            "resolved_at": None,
            "closed_at": created + timedelta(days=2) if status == "closed" else None,
            "accept_due_at": created + timedelta(hours=2),
            "resolve_due_at": created + timedelta(hours=72),
            "me_too_count": rng.choice([0, 0, 0, 1, 2, 5]),
            "rating": None,
            "needs_review": rng.random() < 0.02,
            "version": 1,
        }

    for _ in range(shape.open_reports):
        tickets.append(ticket("report", rng.choice(OPEN), rng.choice(report_cats)))
    for _ in range(shape.closed_reports):
        tickets.append(ticket("report", "closed", rng.choice(report_cats)))
    for _ in range(shape.wishes):
        tickets.append(ticket("wish", rng.choice(OPEN + ("closed",)), rng.choice(wish_cats)))
    for start in range(0, len(tickets), 2000):
        insert("tickets", tickets[start : start + 2000])
    # Every ticket filed through the API keeps its Idempotency-Key's claim until the privacy
    # purge removes the ticket's personal fields: a database in use has as many as it has
    # tickets, and the submission's check of an earlier claim is planned on them.
    records = [
        {"id": i, "key_hash": hashlib.sha256(t["id"].encode()).hexdigest(), "fingerprint": "0" * 64,
         "ticket_id": t["id"], "created_at": t["created_at"]}
        for i, t in enumerate(tickets, start=1)
    ]
    for start in range(0, len(records), 2000):
        insert("idempotency_records", records[start : start + 2000])
    db.session.commit()

    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            for table in md.values():
                if table.name in existing and "id" in table.c and isinstance(table.c.id.type, sa.Integer):
                    conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
            conn.execute(sa.text("ANALYZE"))
    else:
        with db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    return Built(codes=active, revoked=revoked, counts=counts)


def main(argv: list[str]) -> int:
    """python bench/dataset.py DATABASE_URL CODES_FILE: migrate, fill, write the active codes
    (one a line) and print the row counts as JSON on the last line."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.config import Config
    from webapp.extensions import db

    url, codes_file = argv
    app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={})
    with app.app_context():
        upgrade()
        built = build()
        db.session.remove()
        db.engine.dispose()
    Path(codes_file).write_text("\n".join(built.codes) + "\n")
    Path(codes_file).with_suffix(".revoked").write_text("\n".join(built.revoked) + "\n")
    print(json.dumps(built.counts))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
