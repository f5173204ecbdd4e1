"""Importing the "one table" (一张表) a community keeps: places, staff and the matrix.

One .xlsx workbook, or a folder of CSV files named after the sheets (``楼栋.csv``, UTF-8 with
or without BOM; GB18030 as saved by Excel is accepted too). The header is row 1; column order
does not matter, unknown sheets and columns are ignored, and every sheet is optional (a file may
carry only 楼栋, say). Columns marked * must be filled; other columns may be left out.

======== =========================================================================================
sheet    columns
======== =========================================================================================
街道     编码*, 名称*, 工单前缀* (1-8 capital letters or digits, e.g. JY)
社区     编码*, 名称*, 街道编码*, 办公电话 (printed on the signs, e.g. 0530-8123456)
部门     编码*, 名称*
问题类别 编码*, 名称*, 类型* (随手拍 | 心愿), 主管部门编码, 受理时限(小时)*, 办结时限(小时)*,
         按工作日 (是 | 否, blank = 否), 排序 (blank = 0)
人员     编码*, 姓名*, 手机* (11 digits), 角色*, 范围编码, 微信openid, 工作电话, 公示电话 (是 |
         否: print the 工作电话 on the signs; blank = 否; 是 needs a 工作电话).
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
代班人编码 removes the stand-in), except 微信openid: blank keeps the one stored at login. An
optional column left out of the file (办公电话, 工作电话, 公示电话) leaves what is stored alone.

The import runs in three steps, one module each (each imports only the ones before it):

1. ``read``: the file into sheets of text rows (:func:`read_registry_file`). An .xlsx workbook
   via openpyxl or a folder of CSV files (UTF-8, BOM, GB18030); header cells are normalised,
   blank rows skipped, and every cell becomes text numbered by its spreadsheet row.
2. ``validate``: every row of every sheet is checked (:func:`validate_registry`): required cells,
   lengths and formats, duplicates, references between sheets and to the database. The result
   is a plan of validated rows, references still as codes, or the bad rows as
   :class:`RowError` in the report (e.g. ``[楼栋] 第12行：网格编码 G-99 不存在``). Writes nothing.
3. ``apply``: only when no row is bad, the plan is written sheet by sheet (upsert keyed by 编码,
   nothing deleted, units added and reordered) and the :class:`ImportReport` counts what was
   created, updated and left unchanged (:func:`import_registry`, :func:`import_registry_file`).
   :func:`preview_registry` runs the same steps in a savepoint it rolls back: the console's
   preview shows exactly what the apply will do, and writes nothing.

The functions here flush and never commit; the caller commits or rolls back.
"""
from __future__ import annotations

from webapp.registry.importer.apply import import_registry, import_registry_file, preview_registry
from webapp.registry.importer.read import Row, Sheet, read_registry_file
from webapp.registry.importer.validate import (
    SHEET_NAMES,
    SHEETS,
    ImportReport,
    RowError,
    SheetCounts,
    validate_registry,
)

__all__ = [
    "SHEETS",
    "SHEET_NAMES",
    "ImportReport",
    "Row",
    "RowError",
    "Sheet",
    "SheetCounts",
    "import_registry",
    "import_registry_file",
    "preview_registry",
    "read_registry_file",
    "validate_registry",
]
