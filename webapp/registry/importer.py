"""Importing the "one table" (一张表) a community keeps: places, staff and the matrix.

One .xlsx workbook, or a folder of CSV files named after the sheets (``楼栋.csv``, UTF-8 with
or without BOM; GB18030 as saved by Excel is accepted too). The header is row 1; column order
does not matter, unknown sheets and columns are ignored, and every sheet is optional (a file may
carry only 楼栋, say). Columns marked * must be filled; other columns may be left out.

======== =========================================================================================
sheet    columns
======== =========================================================================================
街道     编码*, 名称*, 工单前缀* (1-8 capital letters or digits, e.g. JY)
社区     编码*, 名称*, 街道编码*
部门     编码*, 名称*
问题类别 编码*, 名称*, 类型* (随手拍 | 心愿), 主管部门编码, 受理时限(小时)*, 办结时限(小时)*,
         按工作日 (是 | 否, blank = 否), 排序 (blank = 0)
人员     编码*, 姓名*, 手机* (11 digits), 角色*, 范围编码, 微信openid.
         One row per role: a person with two roles has two rows with the same 编码 (姓名, 手机
         and 微信openid may be left blank on the further rows). 角色 and what 范围编码 names:
         网格员 → grid, 专业网格员 → department, 社区工作人员 → community,
         心语心愿处理人 → community, 街道工作人员 → street, 管理员 → (blank).
网格     编码*, 名称*, 社区编码*, 网格员编码, 代班人编码 (person codes; the grid worker must
         hold the 网格员 role for that grid)
楼栋     编码*, 名称*, 地址*, 网格编码*, 单元 (names separated by 、 or , e.g. 1单元、2单元)
责任矩阵 网格编码*, 类别编码*, 负责人编码*, 代班人编码: who answers for a report category in a
         grid; "one worker, many grids" (一员多格) is several rows naming the same person
======== =========================================================================================

Rows are keyed by 编码 (the matrix by 网格编码 + 类别编码), so importing a file again updates in
place: an unchanged file changes nothing, a changed row updates its object. Every row of every
sheet is checked before anything is written; if any row is bad, the report lists every bad row
with its sheet, row number and reason, and nothing is written. Nothing is ever deleted: objects,
roles, matrix rows and units absent from the file are left as they are (units are added and
reordered, never removed: tickets point at them). A blank optional cell means "none" (a blank
代班人编码 removes the stand-in), except 微信openid: blank keeps the one stored at login.

The functions here flush and never commit; the caller commits or rolls back.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row as DbRow

from webapp.errors import Invalid
from webapp.extensions import db
from webapp.people.models import ROLE_LABELS, Person, Role, StaffAssignment
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

STREETS, COMMUNITIES, DEPARTMENTS, CATEGORIES = "街道", "社区", "部门", "问题类别"
PEOPLE, GRIDS, BUILDINGS, MATRIX = "人员", "网格", "楼栋", "责任矩阵"

# Sheet name → (column, must be filled). Columns that need no value may be absent.
SHEETS: dict[str, tuple[tuple[str, bool], ...]] = {
    STREETS: (("编码", True), ("名称", True), ("工单前缀", True)),
    COMMUNITIES: (("编码", True), ("名称", True), ("街道编码", True)),
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
TICKET_PREFIX = re.compile(r"[A-Z0-9]{1,8}")
UNIT_SEPARATORS = re.compile(r"[、,，;；\s]+")


# ---------------------------------------------------------------- reading: file → rows


@dataclass(frozen=True)
class Row:
    """One data row as text, numbered as the spreadsheet shows it (the header is row 1)."""

    number: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


@dataclass
class Sheet:
    name: str
    columns: tuple[str, ...]
    rows: list[Row]


def read_registry_file(path: str | Path) -> dict[str, Sheet]:
    """Read an .xlsx workbook or a folder of CSV files into sheets of text rows.

    Raises Invalid when the path is neither or cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        return read_csv_folder(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"} and path.is_file():
        return read_xlsx(path)
    raise Invalid(f"无法导入 {path}：请提供 .xlsx 文件或存放 CSV 文件的文件夹")


def read_xlsx(path: Path) -> dict[str, Sheet]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as error:
        raise Invalid(f"无法读取 {path.name}：不是有效的 xlsx 文件（{error}）") from error
    try:
        return {
            sheet.name: sheet
            for sheet in (
                _sheet(ws.title, ws.iter_rows(values_only=True)) for ws in workbook.worksheets
            )
        }
    finally:
        workbook.close()


def read_csv_folder(folder: Path) -> dict[str, Sheet]:
    sheets = {}
    for path in sorted(folder.glob("*.csv")):
        text = _decode(path.read_bytes(), path.name)
        sheet = _sheet(path.stem, csv.reader(io.StringIO(text, newline="")))
        sheets[sheet.name] = sheet
    return sheets


def _decode(data: bytes, filename: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid(f"无法读取 {filename}：请以 UTF-8 编码保存")


def _sheet(title: str, raw_rows: Iterable[Sequence]) -> Sheet:
    name = unicodedata.normalize("NFC", str(title)).strip()
    columns: tuple[str, ...] = ()
    rows = []
    for number, raw in enumerate(raw_rows, start=1):
        if number == 1:
            columns = tuple(_header_text(value) for value in raw)
            continue
        cells = [_cell_text(value) for value in raw]
        if not any(cells):
            continue
        values = {column: cell for column, cell in zip(columns, cells) if column}
        rows.append(Row(number, values))
    return Sheet(name, columns, rows)


def _header_text(value) -> str:
    text = unicodedata.normalize("NFC", _cell_text(value))
    return re.sub(r"\s+", "", text.replace("（", "(").replace("）", ")"))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


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


# ---------------------------------------------------------------- importing


def import_registry_file(path: str | Path) -> ImportReport:
    """Read and import one file or CSV folder; see the module docstring for the format."""
    return import_registry(read_registry_file(path))


def import_registry(sheets: dict[str, Sheet]) -> ImportReport:
    """Check every row of every sheet, then (only if none is bad) write them and flush.

    Raises Invalid when no sheet of the format is present.
    """
    report = ImportReport(
        counts={name: SheetCounts() for name in SHEET_NAMES if name in sheets},
        ignored_sheets=[name for name in sheets if name not in SHEETS],
    )
    if not report.counts:
        raise Invalid("文件中没有可导入的工作表，应为：" + "、".join(SHEET_NAMES))
    existing = _Existing.load(load_buildings=BUILDINGS in sheets)
    plan = _Validator(sheets, existing, report).run()
    if report.ok:
        _apply(plan, existing, report)
    return report


@dataclass
class _Existing:
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
    def load(cls, *, load_buildings: bool) -> "_Existing":
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


@dataclass
class _Plan:
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
    def __init__(self, sheets: dict[str, Sheet], existing: _Existing, report: ImportReport):
        self.sheets, self.existing, self.report = sheets, existing, report
        self.plan = _Plan()
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
        self.openid_holders = _people_by_openid(
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

    def run(self) -> _Plan:
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
        check.unique(code, seen, f"编码 {code}")
        if check.is_ok:
            self.plan.communities.append((code, {"name": name}, street))

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
            first = self.plan.people[code] = _PersonPlan(code, name, phone, openid)
        elif openid and not first.openid:
            first.openid = openid
        first.roles.append((role, scope))

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


def _people_by_openid(openids: set[str]) -> dict[str, Person]:
    found: dict[str, Person] = {}
    wanted = sorted(openids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for person in db.session.scalars(select(Person).where(Person.openid.in_(chunk))):
            found[person.openid] = person
    return found


# ---------------------------------------------------------------- writing


def _assign(obj, values: dict) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _upsert(model, existing: dict, code: str, values: dict, counts: SheetCounts):
    obj = existing.get(code)
    if obj is None:
        obj = existing[code] = model(code=code, **values)
        db.session.add(obj)
        counts.created += 1
    elif _assign(obj, values):
        counts.updated += 1
    else:
        counts.unchanged += 1
    return obj


def _apply(plan: _Plan, existing: _Existing, report: ImportReport) -> None:
    """Write a validated plan sheet by sheet, flushing after each so that ids exist."""
    counts = report.counts
    with db.session.no_autoflush:
        for code, values in plan.streets:
            _upsert(Street, existing.streets, code, values, counts[STREETS])
        db.session.flush()
        for code, values, street in plan.communities:
            values["street_id"] = existing.streets[street].id
            _upsert(Community, existing.communities, code, values, counts[COMMUNITIES])
        for code, values in plan.departments:
            _upsert(Department, existing.departments, code, values, counts[DEPARTMENTS])
        db.session.flush()
        for code, values, department in plan.categories:
            values["department_id"] = existing.departments[department].id if department else None
            _upsert(Category, existing.categories, code, values, counts[CATEGORIES])
        person_status = _apply_people(plan, existing)
        _apply_grids(plan, existing, report)
        _apply_roles(plan, existing, person_status)
        for status in person_status.values():
            setattr(counts[PEOPLE], status, getattr(counts[PEOPLE], status) + 1)
        _apply_buildings(plan, existing, report)
        _apply_matrix(plan, existing, report)
    db.session.flush()


def _apply_people(plan: _Plan, existing: _Existing) -> dict[str, str]:
    """Write people (not yet their roles); returns code → created/updated/unchanged."""
    status = {}
    openid_holders = _people_by_openid(
        {p.openid for p in plan.people.values() if p.openid and p.code not in existing.people}
    )
    for code, p in plan.people.items():
        values = {"name": p.name, "phone": p.phone}
        if p.openid:
            values["openid"] = p.openid
        person = existing.people.get(code)
        if person is None and p.openid in openid_holders:
            # Someone who logged in as a resident before being listed as staff: adopt them.
            person = existing.people[code] = openid_holders[p.openid]
            values["code"] = code
        if person is None:
            existing.people[code] = Person(code=code, **values)
            db.session.add(existing.people[code])
            status[code] = "created"
        else:
            status[code] = "updated" if _assign(person, values) else "unchanged"
    db.session.flush()
    return status


def _apply_grids(plan: _Plan, existing: _Existing, report: ImportReport) -> None:
    people = existing.people
    for code, name, community, worker, standin in plan.grids:
        values = {
            "name": name,
            "community_id": existing.communities[community].id,
            "worker_id": people[worker].id if worker else None,
            "standin_id": people[standin].id if standin else None,
        }
        _upsert(Grid, existing.grids, code, values, report.counts[GRIDS])
    db.session.flush()


def _apply_roles(plan: _Plan, existing: _Existing, person_status: dict[str, str]) -> None:
    scope_ids = {
        STREETS: lambda c: (existing.streets[c].id, None, None, None),
        COMMUNITIES: lambda c: (None, existing.communities[c].id, None, None),
        GRIDS: lambda c: (None, None, existing.grids[c].id, None),
        DEPARTMENTS: lambda c: (None, None, None, existing.departments[c].id),
        None: lambda c: (None, None, None, None),
    }
    for code, p in plan.people.items():
        person_id = existing.people[code].id
        for role, scope in p.roles:
            street_id, community_id, grid_id, department_id = scope_ids[ROLE_SCOPES[role]](scope)
            key = (person_id, role, street_id, community_id, grid_id, department_id)
            if key in existing.assignments:
                continue
            existing.assignments.add(key)
            db.session.add(
                StaffAssignment(
                    person_id=person_id,
                    role=role,
                    street_id=street_id,
                    community_id=community_id,
                    grid_id=grid_id,
                    department_id=department_id,
                )
            )
            if person_status[code] == "unchanged":
                person_status[code] = "updated"
    db.session.flush()


def _apply_buildings(plan: _Plan, existing: _Existing, report: ImportReport) -> None:
    """Write buildings and their units with bulk statements (a city has 100,000 buildings)."""
    if not plan.buildings:
        return
    counts = report.counts[BUILDINGS]
    new_buildings, changed_buildings = [], []
    for code, values, grid, _ in plan.buildings:
        values = {**values, "grid_id": existing.grids[grid].id}
        stored = existing.buildings.get(code)
        if stored is None:
            new_buildings.append({"code": code, **values})
        elif (stored.name, stored.address, stored.grid_id) != tuple(values.values()):
            changed_buildings.append({"id": stored.id, **values})
    if new_buildings:
        # A plain executemany, then one query for the ids: on PostgreSQL this is several times
        # faster than INSERT ... RETURNING in batches.
        db.session.execute(insert(Building), new_buildings)
        ids = dict(db.session.execute(select(Building.code, Building.id)).all())
    else:
        ids = {code: row.id for code, row in existing.buildings.items()}
    if changed_buildings:
        db.session.execute(update(Building), changed_buildings)

    new_units, changed_units = [], []
    updated = {row["id"] for row in changed_buildings}
    for code, _, _, unit_names in plan.buildings:
        building_id = ids[code]
        stored_units = existing.units.get(building_id, {})
        for position, name in enumerate(unit_names, start=1):
            unit_id, sort_order = stored_units.get(name, (None, None))
            if unit_id is None:
                new_units.append({"building_id": building_id, "name": name, "sort_order": position})
            elif sort_order != position:
                changed_units.append({"id": unit_id, "sort_order": position})
            else:
                continue
            if code in existing.buildings:
                updated.add(building_id)
    if new_units:
        db.session.execute(insert(Unit), new_units)
    if changed_units:
        db.session.execute(update(Unit), changed_units)
    counts.created = len(new_buildings)
    counts.updated = len(updated)
    counts.unchanged = len(plan.buildings) - counts.created - counts.updated


def _apply_matrix(plan: _Plan, existing: _Existing, report: ImportReport) -> None:
    counts = report.counts.get(MATRIX)
    people = existing.people
    for grid, category, person, standin in plan.matrix:
        key = (existing.grids[grid].id, existing.categories[category].id)
        values = {
            "person_id": people[person].id,
            "standin_id": people[standin].id if standin else None,
        }
        responsibility = existing.matrix.get(key)
        if responsibility is None:
            existing.matrix[key] = Responsibility(grid_id=key[0], category_id=key[1], **values)
            db.session.add(existing.matrix[key])
            counts.created += 1
        elif _assign(responsibility, values):
            counts.updated += 1
        else:
            counts.unchanged += 1
    db.session.flush()
