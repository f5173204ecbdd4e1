"""Importing the "one table": the sample, re-imports, changed rows, bad rows that write nothing."""
from __future__ import annotations

import shutil

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from webapp.demo import SAMPLE_CSV_DIR, SAMPLE_XLSX
from webapp.demo.make_sample import sample_sheets, write_xlsx
from webapp.errors import Invalid
from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.importer import RowError, import_registry_file
from webapp.registry.models import (
    Building,
    Category,
    Community,
    Department,
    Grid,
    Responsibility,
    Street,
    Unit,
)

TABLES = (
    Street, Community, Department, Category, Person, StaffAssignment, Grid, Building, Unit,
    Responsibility,
)


def table_counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in TABLES}


def sample_created() -> dict[str, int]:
    """How many objects each sheet of the sample describes."""
    sheets = sample_sheets()
    counts = {name: len(rows) for name, (_, rows) in sheets.items()}
    counts["人员"] = len({row[0] for row in sheets["人员"][1]})
    return counts


def import_and_commit(path):
    report = import_registry_file(path)
    assert report.ok, [str(e) for e in report.errors]
    db.session.commit()
    return report


def created(report) -> dict[str, int]:
    return {name: c.created for name, c in report.counts.items()}


def edited_sample(tmp_path, edit) -> str:
    """A copy of the sample workbook after edit(workbook)."""
    workbook = load_workbook(SAMPLE_XLSX)
    edit(workbook)
    path = tmp_path / "edited.xlsx"
    workbook.save(path)
    return path


def sheets_file(tmp_path, edit) -> str:
    """The sample data after edit(sheets), where sheets maps name → (header, list of rows)."""
    sheets = {name: (header, list(rows)) for name, (header, rows) in sample_sheets().items()}
    edit(sheets)
    path = tmp_path / "sheets.xlsx"
    write_xlsx(path, sheets)
    return path


def test_importer_loads_the_whole_tree_from_the_sample(app_ctx):
    report = import_and_commit(SAMPLE_XLSX)

    assert created(report) == sample_created()
    assert all(c.updated == 0 and c.unchanged == 0 for c in report.counts.values())
    grid = db.session.scalars(select(Grid).where(Grid.code == "FH-01-G1")).one()
    assert (grid.community.street.ticket_prefix, grid.worker.code, grid.standin.code) == (
        "JY", "P011", "P012",
    )
    # A person with two rows holds two roles.
    zhao = db.session.scalars(select(Person).where(Person.code == "P003")).one()
    assert {a.role for a in zhao.assignments} == {Role.COMMUNITY_STAFF, Role.WISH_READER}
    assert (zhao.phone, zhao.openid) == ("13900000003", "demo-P003")
    # One professional grid worker answers for elevators in four grids (一员多格).
    elevator = db.session.scalars(select(Category).where(Category.code == "elevator")).one()
    li = db.session.scalars(select(Person).where(Person.code == "P021")).one()
    assert elevator.department.code == "ZJ"
    assert len(db.session.scalars(select(Responsibility).where(
        Responsibility.category_id == elevator.id, Responsibility.person_id == li.id
    )).all()) == 4
    sanitation = db.session.scalars(select(Category).where(Category.code == "sanitation")).one()
    assert (sanitation.uses_workdays, sanitation.accept_hours, sanitation.resolve_hours) == (
        True, 24, 72,
    )
    building = db.session.scalars(select(Building).where(Building.code == "FH-01-G1-B01")).one()
    assert [u.name for u in building.units] == ["1单元", "2单元", "3单元"]
    shops = db.session.scalars(select(Building).where(Building.code == "FH-02-G2-B90")).one()
    assert shops.units == []


def test_importer_changes_nothing_when_the_same_file_comes_again(app_ctx):
    import_and_commit(SAMPLE_XLSX)
    before = table_counts()
    ids = dict(db.session.execute(select(Building.code, Building.id)).all())
    person_ids = dict(db.session.execute(select(Person.code, Person.id)).all())

    report = import_and_commit(SAMPLE_XLSX)

    assert report.changed == 0
    assert {name: c.unchanged for name, c in report.counts.items()} == sample_created()
    assert table_counts() == before
    assert dict(db.session.execute(select(Building.code, Building.id)).all()) == ids
    assert dict(db.session.execute(select(Person.code, Person.id)).all()) == person_ids


def test_importer_updates_exactly_the_changed_building(app_ctx, tmp_path):
    import_and_commit(SAMPLE_XLSX)
    before = table_counts()

    def move_address(workbook):
        sheet = workbook["楼栋"]
        assert sheet["A3"].value == "FH-01-G1-B02"
        sheet["C3"] = "巨野县凤凰街道凤凰路190号幸福家园2号楼"

    report = import_and_commit(edited_sample(tmp_path, move_address))

    assert report.counts["楼栋"].updated == 1
    assert report.changed == 1
    assert table_counts() == before
    building = db.session.scalars(select(Building).where(Building.code == "FH-01-G1-B02")).one()
    assert building.address == "巨野县凤凰街道凤凰路190号幸福家园2号楼"


def test_importer_adds_units_and_roles_to_existing_objects(app_ctx, tmp_path):
    import_and_commit(SAMPLE_XLSX)

    def edit(workbook):
        workbook["楼栋"]["E2"] = "1单元、2单元、3单元、4单元"
        workbook["人员"].append(["P002", None, None, "管理员", None, None])

    report = import_and_commit(edited_sample(tmp_path, edit))

    assert (report.counts["楼栋"].updated, report.counts["人员"].updated, report.changed) == (1, 1, 2)
    building = db.session.scalars(select(Building).where(Building.code == "FH-01-G1-B01")).one()
    assert [u.name for u in building.units] == ["1单元", "2单元", "3单元", "4单元"]
    chen = db.session.scalars(select(Person).where(Person.code == "P002")).one()
    assert {a.role for a in chen.assignments} == {Role.STREET_STAFF, Role.ADMIN}


def test_importer_writes_nothing_when_one_row_is_bad(app_ctx, tmp_path):
    import_and_commit(SAMPLE_XLSX)
    before = table_counts()

    def add_rows(workbook):
        workbook["网格"].append(["FH-02-G3", "新华苑网格", "FH-02", None, None])
        buildings = workbook["楼栋"]
        buildings.append(["FH-02-G3-B01", "新华苑1号楼", "巨野县凤凰街道新华路3号", "FH-02-G3", "1单元"])
        buildings.append(["FH-02-G3-B02", "新华苑2号楼", "巨野县凤凰街道新华路3号", "G-99", "1单元"])
        buildings.append(["FH-02-G3-B03", "新华苑3号楼", "巨野县凤凰街道新华路3号", "FH-02-G3", ""])

    path = edited_sample(tmp_path, add_rows)
    bad_row = load_workbook(path)["楼栋"].max_row - 1

    report = import_registry_file(path)

    assert report.errors == [RowError("楼栋", bad_row, "网格编码 G-99 不存在")]
    assert str(report.errors[0]) == f"[楼栋] 第{bad_row}行：网格编码 G-99 不存在"
    assert table_counts() == before
    db.session.rollback()
    assert table_counts() == before


def test_importer_writes_nothing_into_an_empty_database_on_a_bad_row(app_ctx, tmp_path):
    def edit(workbook):
        workbook["人员"]["C8"] = "1390000001"

    report = import_registry_file(edited_sample(tmp_path, edit))

    assert [str(e) for e in report.errors] == ["[人员] 第8行：手机 1390000001 不是11位手机号"]
    assert set(table_counts().values()) == {0}


def test_importer_reports_every_bad_row(app_ctx, tmp_path):
    def edit(sheets):
        sheets["街道"][1][0] = ("FH", "凤凰街道", "jy-1")
        categories = sheets["问题类别"][1]
        categories[0] = ("light", "楼道照明", "投诉", "", "两小时", 48, "否", 1)
        categories[1] = ("fire_lane", "消防通道堵塞", "随手拍", "XF", 12, 1, "也许", 2)
        people = sheets["人员"][1]
        people[0] = ("P001", "刘洋", "1390000000", "楼长", "", "demo-P001")
        people[1] = ("P002", "陈志强", "13900000002", "街道工作人员", "FH-01", "demo-P001")
        people[3] = ("P003", "赵小敏", "", "心语心愿处理人", "FH-01", "")
        people.append(("P026", "", "", "专业网格员", "GS", ""))
        sheets["网格"][1][4] = ("FH-02-G2", "阳光花园网格", "FH-09", "P014", "P014")
        buildings = sheets["楼栋"][1]
        buildings[1] = (buildings[0][0], "", buildings[1][2], buildings[1][3], "1单元、1单元")
        sheets["责任矩阵"][1].append(("FH-01-G1", "wish", "P003", ""))
        sheets["责任矩阵"][1].append(("FH-01-G1", "elevator", "P021", ""))

    report = import_registry_file(sheets_file(tmp_path, edit))

    assert [str(e) for e in report.errors] == [
        "[街道] 第2行：工单前缀 JY-1 应为1到8位大写字母或数字",
        "[问题类别] 第2行：类型“投诉”无效，应为“随手拍”或“心愿”",
        "[问题类别] 第2行：受理时限(小时)应为整数，而不是“两小时”",
        "[问题类别] 第3行：主管部门编码 XF 不存在",
        "[问题类别] 第3行：受理时限不能大于办结时限",
        "[问题类别] 第3行：按工作日应填“是”或“否”，而不是“也许”",
        "[人员] 第2行：手机 1390000000 不是11位手机号",
        "[人员] 第2行：角色“楼长”无效，应为：网格员、专业网格员、社区工作人员、心语心愿处理人、街道工作人员、管理员",
        "[人员] 第3行：范围编码 FH-01 不存在（街道工作人员的范围应为街道编码）",
        "[人员] 第3行：微信openid demo-P001 与第2行重复",
        "[人员] 第5行：姓名“赵小敏”与第4行同一人员的“赵敏”不一致",
        "[人员] 第19行：角色 专业网格员 GS 与第18行重复",
        "[网格] 第6行：社区编码 FH-09 不存在",
        "[网格] 第6行：网格员 P014 在人员表中没有本网格（FH-02-G2）的“网格员”角色",
        "[网格] 第6行：代班人不能与网格员是同一人",
        "[楼栋] 第3行：名称不能为空",
        "[楼栋] 第3行：单元“1单元”重复",
        "[楼栋] 第3行：编码 FH-01-G1-B01 与第2行重复",
        "[责任矩阵] 第26行：类别 wish 是心愿类，不进入责任矩阵",
        "[责任矩阵] 第27行：网格 FH-01-G1 的类别 elevator 与第2行重复",
    ]
    assert set(table_counts().values()) == {0}


def test_importer_names_missing_columns(app_ctx, tmp_path):
    def drop_address(sheets):
        header, rows = sheets["楼栋"]
        sheets["楼栋"] = (header[:2] + header[3:], [row[:2] + row[3:] for row in rows])

    report = import_registry_file(sheets_file(tmp_path, drop_address))

    assert [str(e) for e in report.errors] == ["[楼栋] 第1行：缺少列“地址”"]


def test_importer_refuses_a_file_without_any_known_sheet(app_ctx, tmp_path):
    path = tmp_path / "other.xlsx"
    write_xlsx(path, {"说明": (("内容",), [("无",)])})

    with pytest.raises(Invalid, match="没有可导入的工作表"):
        import_registry_file(path)


def test_importer_reads_a_csv_folder_like_the_workbook(app_ctx):
    from_csv = import_and_commit(SAMPLE_CSV_DIR)

    assert created(from_csv) == sample_created()
    assert import_and_commit(SAMPLE_XLSX).changed == 0


def test_importer_reads_csv_without_bom_and_as_saved_by_excel(app_ctx, tmp_path):
    folder = tmp_path / "csv"
    shutil.copytree(SAMPLE_CSV_DIR, folder)
    for name, encoding in (("社区", "utf-8"), ("楼栋", "gb18030")):
        path = folder / f"{name}.csv"
        path.write_bytes(path.read_text(encoding="utf-8-sig").encode(encoding))

    report = import_and_commit(folder)

    assert created(report) == sample_created()
    assert db.session.scalars(select(Community.name).order_by(Community.code)).all() == [
        "幸福社区", "和平社区",
    ]


def test_importer_adopts_a_resident_who_logged_in_before_being_listed(app_ctx):
    resident = Person(name="", openid="demo-P011")
    db.session.add(resident)
    db.session.commit()

    report = import_and_commit(SAMPLE_XLSX)

    assert (report.counts["人员"].created, report.counts["人员"].updated) == (15, 1)
    assert db.session.get(Person, resident.id).code == "P011"
