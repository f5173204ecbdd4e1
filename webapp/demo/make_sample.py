"""Write the demo "one table": registry_sample.xlsx and the same sheets as CSV files.

Usage: .venv/bin/python webapp/demo/make_sample.py
The data is made up; phone numbers are 139000000xx and openids demo-<code> (dev login).
"""
from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

HERE = Path(__file__).parent
STREET = "凤凰街道"

STREETS = [("FH", STREET, "JY")]
# code, name, street, office phone (printed on the signs)
COMMUNITIES = [("FH-01", "幸福社区", "FH", "0530-8211001"), ("FH-02", "和平社区", "FH", "0530-8211002")]
DEPARTMENTS = [
    ("ZJ", "县住房和城乡建设局"),
    ("CG", "县综合行政执法局"),
    ("WJ", "县卫生健康局"),
    ("GS", "县自来水公司"),
]
# code, name, kind, department, accept hours, resolve hours, working days, order
CATEGORIES = [
    ("light", "楼道照明", "随手拍", "", 2, 48, "否", 1),
    ("fire_lane", "消防通道堵塞", "随手拍", "", 1, 12, "否", 2),
    ("ebike_charging", "电动车楼道充电", "随手拍", "", 1, 24, "否", 3),
    ("garbage", "垃圾清运", "随手拍", "CG", 2, 24, "否", 4),
    ("elevator", "电梯故障", "随手拍", "ZJ", 1, 24, "否", 5),
    ("water", "供水问题", "随手拍", "GS", 1, 24, "否", 6),
    ("sanitation", "环境卫生", "随手拍", "WJ", 24, 72, "是", 7),
    ("noise", "噪音扰民", "随手拍", "", 2, 48, "否", 8),
    ("illegal_building", "违章搭建", "随手拍", "CG", 24, 240, "是", 9),
    ("wish", "心语心愿", "心愿", "", 24, 168, "否", 20),
]
# code, name, role, scope; a second row of the same code adds a role (name and phone blank).
PEOPLE = [
    ("P001", "刘洋", "管理员", ""),
    ("P002", "陈志强", "街道工作人员", "FH"),
    ("P003", "赵敏", "社区工作人员", "FH-01"),
    ("P003", "", "心语心愿处理人", "FH-01"),
    ("P004", "孙丽华", "社区工作人员", "FH-02"),
    ("P005", "周婷", "心语心愿处理人", "FH-02"),
    ("P011", "张丽", "网格员", "FH-01-G1"),
    ("P012", "王强", "网格员", "FH-01-G2"),
    ("P013", "李娜", "网格员", "FH-01-G3"),
    ("P014", "杨帆", "网格员", "FH-02-G1"),
    ("P015", "吴静", "网格员", "FH-02-G2"),
    ("P021", "李建国", "专业网格员", "ZJ"),
    ("P022", "郑凯", "专业网格员", "CG"),
    ("P023", "马超", "专业网格员", "CG"),
    ("P024", "何芳", "专业网格员", "WJ"),
    ("P025", "高明", "专业网格员", "GS"),
    ("P026", "韩雪", "专业网格员", "GS"),
]
GRIDS = [
    ("FH-01-G1", "幸福家园网格", "FH-01", "P011", "P012"),
    ("FH-01-G2", "金桂苑网格", "FH-01", "P012", "P011"),
    ("FH-01-G3", "供销社家属院网格", "FH-01", "P013", ""),
    ("FH-02-G1", "和平里网格", "FH-02", "P014", "P015"),
    ("FH-02-G2", "阳光花园网格", "FH-02", "P015", ""),
]
# One compound per grid: grid, compound, street address, buildings, units per building.
COMPOUNDS = [
    ("FH-01-G1", "幸福家园", "凤凰路188号", 6, 3),
    ("FH-01-G2", "金桂苑", "永丰街56号", 6, 2),
    ("FH-01-G3", "供销社家属院", "解放街12号", 4, 2),
    ("FH-02-G1", "和平里小区", "和平路9号", 8, 3),
    ("FH-02-G2", "阳光花园", "青年路201号", 5, 2),
]
ELEVATOR_GRIDS = ["FH-01-G1", "FH-01-G2", "FH-02-G1", "FH-02-G2"]


def buildings() -> list[tuple]:
    rows = []
    for grid, compound, address, count, units in COMPOUNDS:
        for number in range(1, count + 1):
            unit_count = 1 if compound == "供销社家属院" and number == count else units
            rows.append(
                (
                    f"{grid}-B{number:02d}",
                    f"{compound}{number}号楼",
                    f"巨野县{STREET}{address}{compound}{number}号楼",
                    grid,
                    "、".join(f"{u}单元" for u in range(1, unit_count + 1)),
                )
            )
    # Shops on the ground floor along the street: a building without units.
    rows.append(("FH-02-G2-B90", "阳光花园沿街商铺", f"巨野县{STREET}青年路199号", "FH-02-G2", ""))
    return rows


def matrix() -> list[tuple]:
    rows = [(grid, "elevator", "P021", "") for grid in ELEVATOR_GRIDS]
    for grid, *_ in GRIDS:
        in_first = grid.startswith("FH-01")
        city_worker, city_standin = ("P022", "P023") if in_first else ("P023", "P022")
        rows += [
            (grid, "garbage", city_worker, city_standin),
            (grid, "illegal_building", city_worker, city_standin),
            (grid, "sanitation", "P024", ""),
            (grid, "water", "P025", "P026"),
        ]
    return rows


# Work phones staff chose (or not) to print on the building signs: code → (number, publish).
# Without a published one a sign shows the community office's number.
WORK_PHONES = {
    "P011": ("15305300011", "是"),
    "P012": ("15305300012", "是"),
    "P014": ("15305300014", "是"),
    "P015": ("15305300015", "否"),
    "P021": ("0530-8233021", "是"),
    "P022": ("0530-8244022", "是"),
    "P023": ("0530-8244023", "否"),
    "P025": ("0530-8266025", "是"),
}


def people() -> list[tuple]:
    rows = []
    for code, name, role, scope in PEOPLE:
        first = bool(name)
        phone = f"139000000{code[-2:]}" if first else ""
        openid = f"demo-{code}" if first else ""
        work_phone, publish = WORK_PHONES.get(code, ("", "否")) if first else ("", "")
        rows.append((code, name, phone, role, scope, openid, work_phone, publish))
    return rows


def sample_sheets() -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """Sheet name → (header, rows), in the order the importer applies them."""
    return {
        "街道": (("编码", "名称", "工单前缀"), STREETS),
        "社区": (("编码", "名称", "街道编码", "办公电话"), COMMUNITIES),
        "部门": (("编码", "名称"), DEPARTMENTS),
        "问题类别": (
            ("编码", "名称", "类型", "主管部门编码", "受理时限(小时)", "办结时限(小时)", "按工作日", "排序"),
            CATEGORIES,
        ),
        "人员": (
            ("编码", "姓名", "手机", "角色", "范围编码", "微信openid", "工作电话", "公示电话"),
            people(),
        ),
        "网格": (("编码", "名称", "社区编码", "网格员编码", "代班人编码"), GRIDS),
        "楼栋": (("编码", "名称", "地址", "网格编码", "单元"), buildings()),
        "责任矩阵": (("网格编码", "类别编码", "负责人编码", "代班人编码"), matrix()),
    }


def write_xlsx(path: Path, sheets: dict) -> None:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(name)
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(list(row))
        for index, column in enumerate(header, start=1):
            # A row may be shorter than the header (its last, optional cells left out).
            width = max([len(str(column))] + [len(str(r[index - 1])) for r in rows if len(r) >= index]) * 2 + 2
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = min(width, 60)
        sheet.freeze_panes = "A2"
    workbook.save(path)


def write_csv_folder(folder: Path, sheets: dict) -> None:
    folder.mkdir(exist_ok=True)
    for name, (header, rows) in sheets.items():
        # With a BOM, so that Excel opens the files as UTF-8.
        with open(folder / f"{name}.csv", "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)


if __name__ == "__main__":
    sheets = sample_sheets()
    write_xlsx(HERE / "registry_sample.xlsx", sheets)
    write_csv_folder(HERE / "registry_sample_csv", sheets)
    print(f"已生成 {HERE / 'registry_sample.xlsx'} 和 {HERE / 'registry_sample_csv'}/")
