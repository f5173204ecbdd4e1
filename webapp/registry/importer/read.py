"""Step 1, reading: an .xlsx workbook or a folder of CSV files into sheets of text rows."""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from webapp.errors import Invalid


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
    if path.suffix.lower() == ".zip" and path.is_file():
        return read_csv_zip(path)
    raise Invalid(f"无法导入 {path.name}：请提供 .xlsx 文件或存放 CSV 文件的文件夹（也可以是 CSV 文件的 zip 压缩包）")


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


MAX_ZIP_MEMBER_BYTES = 64 * 1024 * 1024


def read_csv_zip(path: Path) -> dict[str, Sheet]:
    """A zip of CSV files named after the sheets (folders inside are ignored)."""
    sheets = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if not info.flag_bits & 0x800:  # no UTF-8 flag: Windows writes names in GBK
                    try:
                        name = name.encode("cp437").decode("gb18030")
                    except (UnicodeEncodeError, UnicodeDecodeError):
                        pass
                stem, _, suffix = name.rsplit("/", 1)[-1].rpartition(".")
                if info.is_dir() or suffix.lower() != "csv" or not stem or stem.startswith("."):
                    continue
                if info.file_size > MAX_ZIP_MEMBER_BYTES:
                    raise Invalid(f"无法读取 {name}：文件过大")
                text = _decode(archive.read(info), name)
                sheet = _sheet(stem, csv.reader(io.StringIO(text, newline="")))
                sheets[sheet.name] = sheet
    except zipfile.BadZipFile as error:
        raise Invalid(f"无法读取 {path.name}：不是有效的 zip 文件") from error
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
