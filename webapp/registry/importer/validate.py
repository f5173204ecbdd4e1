"""Step 2, checking: every row of every sheet against the format, the file and the database."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Row as DbRow

from webapp.errors import Invalid
from webapp.extensions import db
from webapp.people.models import ROLE_LABELS, Person, Role, StaffAssignment
from webapp.registry.importer.read import Row, Sheet
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

# ---------------------------------------------------------------- the format

STREETS, COMMUNITIES, DEPARTMENTS, CATEGORIES = "街道", "社区", "部门", "问题类别"
PEOPLE, GRIDS, BUILDINGS, MATRIX = "人员", "网格", "楼栋", "责任矩阵"

# Sheet name → (column, must be filled). Columns that need no value may be absent.
SHEETS: dict[str, tuple[tuple[str, bool], ...]] = {
    STREETS: (("编码", True), ("名称", True), ("工单前缀", True)),
    COMMUNITIES: (("编码", True), ("名称", True), ("街道编码", True), ("办公电话", False)),
    DEPARTMENTS: (("编码", True), ("名称", True)),
    CATEGORIES: (
        ("编码", True),
        ("名称", True),
        ("类型", True),
        ("主管部门编码", False),
        ("受理时限(小时)", True),
        ("办结时限(小时)", True),
        ("按工作日", False),
        ("排序", False),
    ),
    PEOPLE: (
        ("编码", True),
        ("姓名", True),
        ("手机", True),
        ("角色", True),
        ("范围编码", False),
        ("微信openid", False),
        ("工作电话", False),
        ("公示电话", False),
    ),
    GRIDS: (
        ("编码", True),
        ("名称", True),
        ("社区编码", True),
        ("网格员编码", False),
        ("代班人编码", False),
    ),
    BUILDINGS: (
        ("编码", True),
        ("名称", True),
        ("地址", True),
        ("网格编码", True),
        ("单元", False),
    ),
    MATRIX: (("网格编码", True), ("类别编码", True), ("负责人编码", True), ("代班人编码", False)),
}
SHEET_NAMES = tuple(SHEETS)

KIND_NAMES = {"随手拍": TicketKind.REPORT, "心愿": TicketKind.WISH, "心语心愿": TicketKind.WISH}
ROLE_NAMES = {label: role for role, label in ROLE_LABELS.items()} | {
    "专职网格员": Role.GRID_WORKER,
    "社区工作者": Role.COMMUNITY_STAFF,
}
# What the 范围编码 of each role names; None: the role has no scope.
ROLE_SCOPES: dict[Role, str | None] = {
    Role.GRID_WORKER: GRIDS,
    Role.PROFESSIONAL: DEPARTMENTS,
    Role.COMMUNITY_STAFF: COMMUNITIES,
    Role.WISH_READER: COMMUNITIES,
    Role.STREET_STAFF: STREETS,
    Role.ADMIN: None,
}
SCOPE_LABELS = {GRIDS: "网格编码", DEPARTMENTS: "部门编码", COMMUNITIES: "社区编码", STREETS: "街道编码"}
YES, NO = {"是", "y", "yes", "true", "1", "√"}, {"否", "", "n", "no", "false", "0", "×"}

CODE_LENGTH = 40
NAME_LENGTH = 80
SHORT_NAME_LENGTH = 40  # categories, people and units
ADDRESS_LENGTH = 200
OPENID_LENGTH = 64
MAX_HOURS = 24 * 365
PHONE = re.compile(r"1\d{10}")
# A number printed on the signs: a landline with its area code (extension optional), a mobile,
# or a 400 service number.
CALLABLE_PHONE = re.compile(r"0\d{2,3}-?\d{7,8}(-\d{1,6})?|1\d{10}|400-?\d{3}-?\d{4}")
CALLABLE_PHONE_EXAMPLE = "如 0530-8123456 或11位手机号"
TICKET_PREFIX = re.compile(r"[A-Z0-9]{1,8}")
UNIT_SEPARATORS = re.compile(r"[、,，;；\s]+")


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class RowError:
    sheet: str
    row: int
    message: str

    def __str__(self) -> str:
        return f"[{self.sheet}] 第{self.row}行：{self.message}"


@dataclass
class SheetCounts:
    """Objects of one sheet; 人员 counts people (not rows), 楼栋 counts buildings."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # The keys (编码; the matrix: 网格编码/类别编码) created and updated, for a preview.
    created_keys: list[str] = field(default_factory=list)
    updated_keys: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    counts: dict[str, SheetCounts] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    ignored_sheets: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> int:
        return sum(c.created + c.updated for c in self.counts.values())


# ---------------------------------------------------------------- checking


def validate_registry(sheets: dict[str, Sheet]) -> tuple[ImportReport, Existing, Plan]:
    """Check every row of every sheet: the plan to write, or the bad rows in report.errors.

    Writes nothing. Raises Invalid when no sheet of the format is present.
    """
    report = ImportReport(
        counts={name: SheetCounts() for name in SHEET_NAMES if name in sheets},
        ignored_sheets=[name for name in sheets if name not in SHEETS],
    )
    if not report.counts:
        raise Invalid("文件中没有可导入的工作表，应为：" + "、".join(SHEET_NAMES))
    existing = Existing.load(load_buildings=BUILDINGS in sheets)
    plan = _Validator(sheets, existing, report).run()
    return report, existing, plan


@dataclass
class Existing:
    """What the database holds, loaded once per import and keyed by code."""

    streets: dict[str, Street]
    communities: dict[str, Community]
    departments: dict[str, Department]
    categories: dict[str, Category]
    people: dict[str, Person]
    grids: dict[str, Grid]
    # Buildings and units, the bulk of a city's file, are read and written as plain rows.
    buildings: dict[str, DbRow]
    units: dict[int, dict[str, tuple[int, int]]]  # building id → name → (id, sort order)
    # (person_id, role, street_id, community_id, grid_id, department_id)
    assignments: set[tuple]
    matrix: dict[tuple[int, int], Responsibility]

    @classmethod
    def load(cls, *, load_buildings: bool) -> Existing:
        def by_code(model):
            return {obj.code: obj for obj in db.session.scalars(select(model))}

        buildings, units = {}, {}
        if load_buildings:
            query = select(
                Building.code, Building.id, Building.name, Building.address, Building.grid_id
            )
            buildings = {row.code: row for row in db.session.execute(query)}
            query = select(Unit.building_id, Unit.name, Unit.id, Unit.sort_order)
            for building_id, name, unit_id, sort_order in db.session.execute(query):
                units.setdefault(building_id, {})[name] = (unit_id, sort_order)
        return cls(
            streets=by_code(Street),
            communities=by_code(Community),
            departments=by_code(Department),
            categories=by_code(Category),
            people={
                p.code: p
                for p in db.session.scalars(select(Person).where(Person.code.is_not(None)))
            },
            grids=by_code(Grid),
            buildings=buildings,
            units=units,
            assignments={
                tuple(row)
                for row in db.session.execute(
                    select(
                        StaffAssignment.person_id,
                        StaffAssignment.role,
                        StaffAssignment.street_id,
                        StaffAssignment.community_id,
                        StaffAssignment.grid_id,
                        StaffAssignment.department_id,
                    )
                )
            },
            matrix={
                (r.grid_id, r.category_id): r for r in db.session.scalars(select(Responsibility))
            },
        )


# Validated rows, with references still as codes (the objects may not exist yet).


@dataclass
class _PersonPlan:
    code: str
    name: str
    phone: str
    openid: str | None
    roles: list[tuple[Role, str | None]] = field(default_factory=list)
    # work_phone / publish_phone, only when the file has those columns (absent: left alone).
    contact: dict = field(default_factory=dict)


@dataclass
class Plan:
    streets: list[tuple[str, dict]] = field(default_factory=list)
    communities: list[tuple[str, dict, str]] = field(default_factory=list)
    departments: list[tuple[str, dict]] = field(default_factory=list)
    categories: list[tuple[str, dict, str | None]] = field(default_factory=list)
    people: dict[str, _PersonPlan] = field(default_factory=dict)
    # code, name, community code, worker code, stand-in code
    grids: list[tuple[str, str, str, str | None, str | None]] = field(default_factory=list)
    # code, values, grid code, unit names
    buildings: list[tuple[str, dict, str, list[str]]] = field(default_factory=list)
    # grid code, category code, person code, stand-in code
    matrix: list[tuple[str, str, str, str | None]] = field(default_factory=list)


class _RowCheck:
    """Reads the fields of one row, recording a Chinese reason for each bad one."""

    def __init__(self, report: ImportReport, sheet: str, row: Row):
        self.report, self.sheet, self.row = report, sheet, row
        self.is_ok = True

    def error(self, message: str) -> None:
        self.is_ok = False
        self.report.errors.append(RowError(self.sheet, self.row.number, message))

    def text(self, column: str, *, required: bool = True, max_length: int = NAME_LENGTH) -> str:
        value = self.row[column]
        if not value:
            if required:
                self.error(f"{column}不能为空")
        elif len(value) > max_length:
            self.error(f"{column}过长（最多{max_length}个字）")
        return value

    def code(self, column: str = "编码", *, required: bool = True) -> str:
        return self.text(column, required=required, max_length=CODE_LENGTH)

    def ref(self, column: str, known, *, required: bool = True) -> str | None:
        value = self.code(column, required=required)
        if value and value not in known:
            self.error(f"{column} {value} 不存在")
        return value or None

    def integer(self, column: str, *, minimum: int, maximum: int, default: int | None = None):
        value = self.row[column]
        if not value and default is not None:
            return default
        if not value:
            self.error(f"{column}不能为空")
            return None
        try:
            number = int(value)
        except ValueError:
            self.error(f"{column}应为整数，而不是“{value}”")
            return None
        if not minimum <= number <= maximum:
            self.error(f"{column}应在 {minimum} 到 {maximum} 之间，而不是 {number}")
            return None
        return number

    def callable_phone(self, column: str) -> str:
        """A number printed on the signs, or "" (blank)."""
        value = self.text(column, required=False, max_length=20)
        if value and not CALLABLE_PHONE.fullmatch(value):
            self.error(f"{column} {value} 不是有效的电话号码（{CALLABLE_PHONE_EXAMPLE}）")
        return value

    def flag(self, column: str) -> bool:
        value = self.row[column]
        if value.lower() in YES:
            return True
        if value.lower() not in NO:
            self.error(f"{column}应填“是”或“否”，而不是“{value}”")
        return False

    def unique(self, key, seen: dict, message: str) -> None:
        """Record the first row of each key; a later row with the same key is an error."""
        if key in seen:
            self.error(f"{message} 与第{seen[key]}行重复")
        else:
            seen[key] = self.row.number


class _Validator:
    def __init__(self, sheets: dict[str, Sheet], existing: Existing, report: ImportReport):
        self.sheets, self.existing, self.report = sheets, existing, report
        self.plan = Plan()
        # Codes declared by the file (even on bad rows, so that one bad row does not make every
        # row that refers to it bad too) or already in the database.
        self.known = {
            STREETS: self._codes(STREETS) | existing.streets.keys(),
            COMMUNITIES: self._codes(COMMUNITIES) | existing.communities.keys(),
            DEPARTMENTS: self._codes(DEPARTMENTS) | existing.departments.keys(),
            CATEGORIES: self._codes(CATEGORIES) | existing.categories.keys(),
            PEOPLE: self._codes(PEOPLE) | existing.people.keys(),
            GRIDS: self._codes(GRIDS) | existing.grids.keys(),
        }
        self.category_kinds = {code: c.kind for code, c in existing.categories.items()}
        # (person code, grid code) of every 网格员 role, in the file or the database.
        self.grid_worker_roles: set[tuple[str, str]] = set()
        self.person_rows: dict[str, int] = {}  # code → the person's first row
        self.openid_rows: dict[str, tuple[str, int]] = {}  # openid → (person code, row)
        self.openid_holders = people_by_openid(
            {row["微信openid"] for row in sheets[PEOPLE].rows if row["微信openid"]}
            if PEOPLE in sheets
            else set()
        )
        person_codes = {p.id: code for code, p in existing.people.items()}
        grid_codes = {g.id: code for code, g in existing.grids.items()}
        for person_id, role, _, _, grid_id, _ in existing.assignments:
            if role is Role.GRID_WORKER and person_id in person_codes and grid_id in grid_codes:
                self.grid_worker_roles.add((person_codes[person_id], grid_codes[grid_id]))

    def _codes(self, sheet: str) -> set[str]:
        if sheet not in self.sheets:
            return set()
        return {row["编码"] for row in self.sheets[sheet].rows if row["编码"]}

    def run(self) -> Plan:
        for name, check in (
            (STREETS, self._street),
            (COMMUNITIES, self._community),
            (DEPARTMENTS, self._department),
            (CATEGORIES, self._category),
            (PEOPLE, self._person),
            (GRIDS, self._grid),
            (BUILDINGS, self._building),
            (MATRIX, self._matrix_row),
        ):
            sheet = self.sheets.get(name)
            if sheet is None or not self._has_columns(sheet):
                continue
            seen: dict = {}
            for row in sheet.rows:
                check(_RowCheck(self.report, name, row), seen)
        return self.plan

    def _has_columns(self, sheet: Sheet) -> bool:
        missing = [c for c, required in SHEETS[sheet.name] if required and c not in sheet.columns]
        for column in missing:
            self.report.errors.append(RowError(sheet.name, 1, f"缺少列“{column}”"))
        return not missing

    def _street(self, check: _RowCheck, seen: dict) -> None:
        code, name = check.code(), check.text("名称")
        prefix = check.text("工单前缀", max_length=CODE_LENGTH).upper()
        if prefix and not TICKET_PREFIX.fullmatch(prefix):
            check.error(f"工单前缀 {prefix} 应为1到8位大写字母或数字")
        check.unique(code, seen, f"编码 {code}")
        if check.is_ok:
            self.plan.streets.append((code, {"name": name, "ticket_prefix": prefix}))

    def _community(self, check: _RowCheck, seen: dict) -> None:
        code, name = check.code(), check.text("名称")
        street = check.ref("街道编码", self.known[STREETS])
        values = {"name": name}
        if "办公电话" in self.sheets[COMMUNITIES].columns:  # absent: the stored number stays
            values["office_phone"] = check.callable_phone("办公电话") or None
        check.unique(code, seen, f"编码 {code}")
        if check.is_ok:
            self.plan.communities.append((code, values, street))

    def _department(self, check: _RowCheck, seen: dict) -> None:
        code, name = check.code(), check.text("名称")
        check.unique(code, seen, f"编码 {code}")
        if check.is_ok:
            self.plan.departments.append((code, {"name": name}))

    def _category(self, check: _RowCheck, seen: dict) -> None:
        code, name = check.code(), check.text("名称", max_length=SHORT_NAME_LENGTH)
        kind_name = check.text("类型")
        kind = KIND_NAMES.get(kind_name)
        if kind_name and kind is None:
            check.error(f"类型“{kind_name}”无效，应为“随手拍”或“心愿”")
        department = check.ref("主管部门编码", self.known[DEPARTMENTS], required=False)
        accept = check.integer("受理时限(小时)", minimum=1, maximum=MAX_HOURS)
        resolve = check.integer("办结时限(小时)", minimum=1, maximum=MAX_HOURS)
        if accept and resolve and accept > resolve:
            check.error("受理时限不能大于办结时限")
        uses_workdays = check.flag("按工作日")
        sort_order = check.integer("排序", minimum=0, maximum=100_000, default=0)
        check.unique(code, seen, f"编码 {code}")
        if kind is not None and code:
            self.category_kinds[code] = kind
        if check.is_ok:
            values = {
                "name": name,
                "kind": kind,
                "accept_hours": accept,
                "resolve_hours": resolve,
                "uses_workdays": uses_workdays,
                "sort_order": sort_order,
            }
            self.plan.categories.append((code, values, department))

    def _person(self, check: _RowCheck, seen: dict) -> None:
        code = check.code()
        first = self.plan.people.get(code)
        first_row = self.person_rows.setdefault(code, check.row.number) if code else None
        is_first = first_row == check.row.number
        name = check.text("姓名", required=is_first, max_length=SHORT_NAME_LENGTH)
        phone = check.text("手机", required=is_first, max_length=20)
        if phone and not PHONE.fullmatch(phone):
            check.error(f"手机 {phone} 不是11位手机号")
        openid = check.text("微信openid", required=False, max_length=OPENID_LENGTH) or None
        contact = self._person_contact(check, first, first_row)
        role, scope = self._role(check)
        if role is not None and code:
            if role is Role.GRID_WORKER and scope:
                self.grid_worker_roles.add((code, scope))
            check.unique((code, role, scope), seen, f"角色 {role.label} {scope or ''}".rstrip())
        if first is not None:
            for label, given, stored in (("姓名", name, first.name), ("手机", phone, first.phone)):
                if given and given != stored:
                    check.error(f"{label}“{given}”与第{first_row}行同一人员的“{stored}”不一致")
            if openid and first.openid and openid != first.openid:
                check.error(f"微信openid {openid} 与第{first_row}行同一人员的不一致")
        if openid:
            owner, row_number = self.openid_rows.setdefault(openid, (code, check.row.number))
            if owner != code:
                check.error(f"微信openid {openid} 与第{row_number}行重复")
            holder = self.openid_holders.get(openid)
            if holder is not None and holder.code not in (None, code):
                check.error(f"微信openid {openid} 已属于人员 {holder.code}")
            elif holder is not None and holder.code is None and code in self.existing.people:
                check.error(f"微信openid {openid} 已被一位居民使用")
        if not check.is_ok:
            return
        if first is None:
            first = self.plan.people[code] = _PersonPlan(code, name, phone, openid, contact=contact)
        elif openid and not first.openid:
            first.openid = openid
        first.roles.append((role, scope))

    def _person_contact(self, check: _RowCheck, first: _PersonPlan | None, first_row) -> dict:
        """工作电话 and 公示电话 (是/否) of a person's first row, when the file has the columns.

        Further rows of the same person may leave them blank; a value there must agree.
        """
        columns = self.sheets[PEOPLE].columns
        contact: dict = {}
        if "工作电话" in columns:
            work_phone = check.callable_phone("工作电话")
            if first is not None and work_phone and work_phone != (first.contact.get("work_phone") or ""):
                check.error(f"工作电话“{work_phone}”与第{first_row}行同一人员的不一致")
            contact["work_phone"] = work_phone or None
        if "公示电话" in columns:
            given = check.row["公示电话"]
            publish = check.flag("公示电话")
            if first is not None and given and publish != first.contact.get("publish_phone", False):
                check.error(f"公示电话“{given}”与第{first_row}行同一人员的不一致")
            contact["publish_phone"] = publish
            known_phone = contact.get("work_phone") or (first.contact.get("work_phone") if first else None)
            stored = self.existing.people.get(check.row["编码"])
            if "工作电话" not in columns and stored is not None:
                known_phone = stored.work_phone
            if publish and not known_phone:
                check.error("公示电话为“是”时须填写工作电话")
        return contact

    def _role(self, check: _RowCheck) -> tuple[Role | None, str | None]:
        role_name = check.text("角色")
        role = ROLE_NAMES.get(role_name)
        if role_name and role is None:
            check.error(f"角色“{role_name}”无效，应为：" + "、".join(ROLE_LABELS.values()))
        scope = check.code("范围编码", required=False) or None
        if role is None:
            return None, scope
        scope_sheet = ROLE_SCOPES[role]
        if scope_sheet is None:
            if scope:
                check.error(f"{role.label}不需要范围编码")
            return role, None
        label = SCOPE_LABELS[scope_sheet]
        if not scope:
            check.error(f"{role.label}的范围编码不能为空（应为{label}）")
        elif scope not in self.known[scope_sheet]:
            check.error(f"范围编码 {scope} 不存在（{role.label}的范围应为{label}）")
        return role, scope

    def _grid(self, check: _RowCheck, seen: dict) -> None:
        code, name = check.code(), check.text("名称")
        community = check.ref("社区编码", self.known[COMMUNITIES])
        worker = check.ref("网格员编码", self.known[PEOPLE], required=False)
        standin = check.ref("代班人编码", self.known[PEOPLE], required=False)
        if worker and code and (worker, code) not in self.grid_worker_roles:
            check.error(f"网格员 {worker} 在人员表中没有本网格（{code}）的“网格员”角色")
        if worker and worker == standin:
            check.error("代班人不能与网格员是同一人")
        check.unique(code, seen, f"编码 {code}")
        if check.is_ok:
            self.plan.grids.append((code, name, community, worker, standin))

    def _building(self, check: _RowCheck, seen: dict) -> None:
        code, name = check.code(), check.text("名称")
        address = check.text("地址", max_length=ADDRESS_LENGTH)
        grid = check.ref("网格编码", self.known[GRIDS])
        units = [u for u in UNIT_SEPARATORS.split(check.row["单元"]) if u]
        for unit in {u for u in units if units.count(u) > 1}:
            check.error(f"单元“{unit}”重复")
        for unit in units:
            if len(unit) > SHORT_NAME_LENGTH:
                check.error(f"单元“{unit}”名称过长（最多{SHORT_NAME_LENGTH}个字）")
        check.unique(code, seen, f"编码 {code}")
        if check.is_ok:
            self.plan.buildings.append((code, {"name": name, "address": address}, grid, units))

    def _matrix_row(self, check: _RowCheck, seen: dict) -> None:
        grid = check.ref("网格编码", self.known[GRIDS])
        category = check.ref("类别编码", self.known[CATEGORIES])
        person = check.ref("负责人编码", self.known[PEOPLE])
        standin = check.ref("代班人编码", self.known[PEOPLE], required=False)
        if category and self.category_kinds.get(category) is TicketKind.WISH:
            check.error(f"类别 {category} 是心愿类，不进入责任矩阵")
        if person and person == standin:
            check.error("代班人不能与负责人是同一人")
        if grid and category:
            check.unique((grid, category), seen, f"网格 {grid} 的类别 {category}")
        if check.is_ok:
            self.plan.matrix.append((grid, category, person, standin))


def people_by_openid(openids: set[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    wanted = sorted(openids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for person in db.session.scalars(select(Person).where(Person.openid.in_(chunk))):
            found[person.openid] = person
    return found
