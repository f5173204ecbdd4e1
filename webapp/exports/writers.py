"""Writing rows to CSV and XLSX without holding them: batches in, bytes or a file out.

A sheet is a title, optional headers and an iterable of batches (lists of row tuples). CSV is
yielded chunk by chunk (one per batch), UTF-8 with a BOM so that Excel on Windows reads the
Chinese; XLSX goes through openpyxl's write-only mode (each row is written to a temporary XML
file as it comes) into a temporary file, which the door sends. Text that a spreadsheet would
run as a formula (a resident's description beginning with "=") is kept as text.
"""
from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass
from typing import IO, Iterable, Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

BOM = "\ufeff"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv; charset=utf-8"
SHEET_MAX_ROWS = 1_048_576  # Excel's rows per sheet, the header row included
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets may read as a formula
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass
class Sheet:
    title: str
    headers: list[str] | None
    batches: Iterable[list[tuple]]
    widths: list[int] | None = None  # column widths in characters, for XLSX


def csv_safe(value) -> str:
    """A cell as CSV text: None empty, text that could run as a formula quoted with '."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_chunks(sheets: Iterable[Sheet]) -> Iterator[bytes]:
    """The sheets as one CSV (a title line and a blank line between sheets when there are
    several), encoded UTF-8 with a BOM, one chunk per batch."""
    yield BOM.encode("utf-8")
    for index, sheet in enumerate(sheets):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if index:
            writer.writerow([])
        if sheet.headers:
            writer.writerow(sheet.headers)
        for batch in sheet.batches:
            writer.writerows([csv_safe(value) for value in row] for row in batch)
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue().encode("utf-8")


def sheet_title(name: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\), unique in the workbook."""
    base = _SHEET_NAME_BAD.sub("_", name).strip("'") or "表"
    base = base[:31]
    title, number = base, 2
    while title.lower() in taken:
        suffix = f"（{number}）"
        title, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(title.lower())
    return title


def write_xlsx(sheets: Iterable[Sheet], target: IO[bytes] | None = None) -> tuple[IO[bytes], dict[str, int]]:
    """The sheets as an XLSX workbook in `target` (a new temporary file by default), rewound;
    and the number of data rows written per sheet title. A sheet longer than Excel allows
    goes on in a second sheet of the same name with (2), and so on."""
    target = target if target is not None else tempfile.TemporaryFile()
    workbook = Workbook(write_only=True)
    taken: set[str] = set()
    counts: dict[str, int] = {}
    bold = Font(bold=True)
    for sheet in sheets:
        worksheet, rows = _new_sheet(workbook, sheet, sheet_title(sheet.title, taken), bold), 0
        counts[sheet.title] = 0
        for batch in sheet.batches:
            for row in batch:
                if rows >= SHEET_MAX_ROWS - (1 if sheet.headers else 0):
                    worksheet, rows = _new_sheet(workbook, sheet, sheet_title(sheet.title, taken), bold), 0
                worksheet.append([_xlsx_value(worksheet, value) for value in row])
                rows += 1
            counts[sheet.title] += len(batch)
    if not taken:
        workbook.create_sheet("表")
    workbook.save(target)
    target.seek(0)
    return target, counts


def _new_sheet(workbook, sheet: Sheet, title: str, bold: Font):
    worksheet = workbook.create_sheet(title)
    for index, width in enumerate(sheet.widths or []):
        worksheet.column_dimensions[_column_letter(index)].width = width
    if sheet.headers:
        worksheet.freeze_panes = "A2"
        cells = []
        for header in sheet.headers:
            cell = WriteOnlyCell(worksheet, value=header)
            cell.font = bold
            cells.append(cell)
        worksheet.append(cells)
    return worksheet


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _xlsx_value(worksheet, value):
    """A value as openpyxl writes it: text without the control characters XML refuses, and a
    text beginning with "=" as text (openpyxl would write it as a formula)."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("="):
        cell = WriteOnlyCell(worksheet, value=value)
        cell.data_type = "s"
        return cell
    return value
