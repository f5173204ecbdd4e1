"""Print-ready A4 sheets of building signs (多网融合信息公示牌), streamed page by page."""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from reportlab.pdfbase import pdfmetrics

from qr.cidfont import CidFont, clean_text, text_width
from qr.pdfstream import A4, PageContent, PdfStreamWriter, pdf_number
from qr.render import make_qr
from qr.textfit import fit_text, wrap_text

DEFAULT_TITLE = "多网融合信息公示牌"
CAPTION = "微信扫码 随手拍 · 心语心愿"
GRID_WORKER_ROLES = frozenset({"网格员", "专职网格员"})
"""Contacts with these roles are the grid's own worker, shown apart from the table."""
GRID_WORKER_NOTE = "表中未列出的问题，均由网格员受理"
TABLE_HEADING = "专业网格员分工"
TABLE_COLUMNS = ("负责事项", "岗位", "姓名", "电话")
OFFICE_LABEL = "社区办公电话"
HOTLINE = "12345"
HOTLINE_LABEL = "政务服务便民热线"

CM = 72 / 2.54
QR_SIDE = 9 * CM
"""The printed symbol, quiet zone excluded: large enough to scan from a step back."""
QUIET_ZONE_MODULES = 4

_FONT = "F1"
# The URL line is set in Helvetica, one of the PDF standard fonts whose metrics every reader
# shares: in the non-embedded STSong-Light a reader draws Latin letters from a substitute font
# at STSong's advance widths, which spread a URL out unevenly ("0xngoamC qeysk21FvW 0O yh").
_LATIN_FONT = "F2"
_LATIN_FONT_NAME = "Helvetica"
_URL_SIZE = 9.0
_FOOTER_SIZE = 13.0
_FOOTER_HEIGHT = 30.0
_PAGE_WIDTH, _PAGE_HEIGHT = A4
_FRAME_INSET = 20.0
_BAND_HEIGHT = 74.0
_LEFT = 44.0
_RIGHT = _PAGE_WIDTH - 44.0
_CONTENT_WIDTH = _RIGHT - _LEFT
_CENTRE = _PAGE_WIDTH / 2
_BOTTOM = _FRAME_INSET + 16.0
# Share of the table width per column, in TABLE_COLUMNS order.
_COLUMN_SHARES = (0.43, 0.19, 0.15, 0.23)
_TABLE_MAX_SIZE, _TABLE_MIN_SIZE = 13.0, 7.5
_CELL_MAX_LINES = 6
_DARK_RUN = re.compile(b"\x01+")
# The tallest a glyph reaches above its baseline, as a share of the font size.
_ASCENT = 0.88

_RED = (0.76, 0.09, 0.11)
_INK = (0.1, 0.1, 0.1)
_GREY = (0.45, 0.45, 0.45)
_LIGHT = (0.93, 0.93, 0.93)
_WHITE = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class SignContact:
    """A person printed on a sign: a role such as 网格员 or 专业网格员, and what they handle.

    `phone` is printed as given: the work phone the person chose to publish, or the office's.
    """

    role: str
    name: str
    phone: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sign:
    """Everything printed on one building's sign; `url` is what its QR code encodes."""

    building_name: str
    address: str
    community_name: str
    grid_name: str
    url: str
    contacts: tuple[SignContact, ...] = ()
    street_name: str = ""
    office_phone: str = ""
    """The community office's number, printed in the footer next to the 12345 hotline."""


def write_signs_pdf(
    signs: Iterable[Sign],
    out: BinaryIO,
    *,
    title: str = DEFAULT_TITLE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write one A4 PDF with one sign per page to `out`; return the number of pages.

    `signs` is consumed lazily and each page is written to `out` as soon as it is drawn,
    so memory stays flat however many signs there are. `progress(n)` is called after
    each page with the number of pages written so far. Raises ValueError when `signs`
    is empty. `out` is written sequentially and left open.
    """
    title = clean_text(title)
    with PdfStreamWriter(out, page_size=A4) as writer:
        font = CidFont(writer)
        latin = writer.reserve()
        writer.write_object(
            latin, f"<< /Type /Font /Subtype /Type1 /BaseFont /{_LATIN_FONT_NAME} /Encoding /WinAnsiEncoding >>"
        )
        resources = writer.reserve()
        writer.write_object(
            resources, f"<< /Font << /{_FONT} {font.object_number} 0 R /{_LATIN_FONT} {latin} 0 R >> >>"
        )
        for sign in signs:
            writer.add_page(_draw_sign(sign, font, title), resources)
            if progress is not None:
                progress(writer.page_count)
        if not writer.page_count:
            raise ValueError("no signs to write")
        font.write(writer)
        return writer.finish({"Title": title, "Producer": "gridreport qr"})


class _Page:
    """Drawing state of one sign page: the content and a cursor moving down the page."""

    def __init__(self, font: CidFont):
        self.font = font
        self.content = PageContent()
        self.top = _PAGE_HEIGHT - _FRAME_INSET

    def text(self, x: float, baseline: float, text: str, size: float, colour, *, bold: bool = False) -> None:
        self.content.fill_rgb(*colour)
        if bold:
            self.content.stroke_rgb(*colour)
        self.content.text(_FONT, size, x, baseline, self.font.encode(text), bold=bold)

    def latin_text(self, baseline: float, text: str, size: float, colour) -> None:
        """One line of ASCII text in Helvetica, centred on the page."""
        self.content.fill_rgb(*colour)
        width = pdfmetrics.stringWidth(text, _LATIN_FONT_NAME, size)
        encoded = "<" + text.encode("cp1252").hex() + ">"
        self.content.text(_LATIN_FONT, size, _CENTRE - width / 2, baseline, encoded)

    def centred_lines(self, lines: Sequence[str], size: float, colour, *, bold: bool = False, leading: float = 1.25):
        """Draw lines centred on the page below the cursor and move the cursor past them."""
        for line in lines:
            baseline = self.top - size * _ASCENT
            self.text(_CENTRE - text_width(line, size) / 2, baseline, line, size, colour, bold=bold)
            self.top -= size * leading

    def centred_block(
        self, text: str, *, max_size: float, min_size: float, max_lines: int, colour, bold: bool = False
    ) -> None:
        if not text:
            return
        size, lines = fit_text(text, _CONTENT_WIDTH, max_size=max_size, min_size=min_size, max_lines=max_lines)
        self.centred_lines(lines, size, colour, bold=bold)


def _draw_sign(sign: Sign, font: CidFont, title: str) -> bytes:
    page = _Page(font)
    content = page.content
    inner_width = _PAGE_WIDTH - 2 * _FRAME_INSET
    content.stroke_rgb(*_RED)
    content.stroke_rect(_FRAME_INSET, _FRAME_INSET, inner_width, _PAGE_HEIGHT - 2 * _FRAME_INSET, 2.5)
    content.fill_rgb(*_RED)
    content.fill_rect(_FRAME_INSET, page.top - _BAND_HEIGHT, inner_width, _BAND_HEIGHT)
    title_size, title_lines = fit_text(title, _CONTENT_WIDTH, max_size=34, min_size=12, max_lines=1)
    baseline = page.top - _BAND_HEIGHT / 2 - title_size * 0.35
    page.text(_CENTRE - text_width(title_lines[0], title_size) / 2, baseline, title_lines[0], title_size, _WHITE, bold=True)
    page.top -= _BAND_HEIGHT + 12

    place = " · ".join(
        part for part in (clean_text(sign.street_name), clean_text(sign.community_name), clean_text(sign.grid_name)) if part
    )
    page.centred_block(place, max_size=16, min_size=9, max_lines=2, colour=_GREY)
    page.top -= 4
    building_name = clean_text(sign.building_name)
    if text_width(building_name, 28) <= _CONTENT_WIDTH:
        page.centred_block(building_name, max_size=46, min_size=28, max_lines=1, colour=_INK, bold=True)
    else:
        page.centred_block(building_name, max_size=28, min_size=16, max_lines=2, colour=_INK, bold=True)
    address = clean_text(sign.address)
    if address:
        page.centred_block("地址：" + address, max_size=15, min_size=8, max_lines=2, colour=_INK)

    page.top -= 2
    _draw_qr(page, sign.url)
    page.centred_lines([CAPTION], 22, _RED, bold=True)
    page.latin_text(page.top - _URL_SIZE * 0.75, _latin_line(sign.url, _URL_SIZE, _CONTENT_WIDTH), _URL_SIZE, _GREY)
    page.top -= _URL_SIZE * 1.3

    page.top -= 4
    content.stroke_rgb(*_RED)
    content.line(_LEFT, page.top, _RIGHT, page.top, 1)
    page.top -= 10
    grid_workers = [contact for contact in sign.contacts if clean_text(contact.role) in GRID_WORKER_ROLES]
    others = [contact for contact in sign.contacts if clean_text(contact.role) not in GRID_WORKER_ROLES]
    for worker in grid_workers[:2]:
        line = "  ".join(part for part in (clean_text(worker.role), clean_text(worker.name), clean_text(worker.phone)) if part)
        page.centred_block(line, max_size=18, min_size=10, max_lines=1, colour=_INK, bold=True)
    if grid_workers and others:
        page.centred_lines([GRID_WORKER_NOTE], 10, _GREY)
    if others:
        page.top -= 6
        _draw_table(page, others)
    _draw_footer(page, clean_text(sign.office_phone))
    return content.getvalue()


def _latin_line(text: str, size: float, width: float) -> str:
    """`text` as Helvetica can show it (WinAnsi), cut with an ellipsis to fit `width`."""
    text = "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in " ".join(text.split()))
    if pdfmetrics.stringWidth(text, _LATIN_FONT_NAME, size) <= width:
        return text
    limit = width - pdfmetrics.stringWidth("\u2026", _LATIN_FONT_NAME, size)
    while text and pdfmetrics.stringWidth(text, _LATIN_FONT_NAME, size) > limit:
        text = text[:-1]
    return text + "\u2026"


def _draw_footer(page: _Page, office_phone: str) -> None:
    """The numbers anyone may call, at the foot of the page: the community office and 12345."""
    content = page.content
    top = _BOTTOM + _FOOTER_HEIGHT
    content.stroke_rgb(*_RED)
    content.line(_LEFT, top, _RIGHT, top, 1)
    parts = [f"{OFFICE_LABEL} {office_phone}"] if office_phone else []
    parts.append(f"{HOTLINE_LABEL} {HOTLINE}")
    line = "    ".join(parts)
    size, lines = fit_text(line, _CONTENT_WIDTH, max_size=_FOOTER_SIZE, min_size=8, max_lines=1)
    baseline = _BOTTOM + (_FOOTER_HEIGHT - size) / 2 + size * 0.12
    page.text(_CENTRE - text_width(lines[0], size) / 2, baseline, lines[0], size, _INK, bold=True)


def _draw_qr(page: _Page, url: str) -> None:
    """Draw the symbol centred below the cursor, inside its quiet zone and a thin frame."""
    modules = make_qr(url).modules
    count = len(modules)
    module = QR_SIDE / count
    quiet = QUIET_ZONE_MODULES * module
    block = QR_SIDE + 2 * quiet
    left = _CENTRE - block / 2
    bottom = page.top - block
    content = page.content
    content.stroke_rgb(0.75, 0.75, 0.75)
    content.stroke_rect(left, bottom, block, block, 0.6)
    # Draw in module units: one rectangle per horizontal run of dark modules, all in one path.
    content.fill_rgb(0, 0, 0)
    content.raw(f"q {pdf_number(module)} 0 0 {pdf_number(module)} {pdf_number(left + quiet)} {pdf_number(bottom + quiet)} cm")
    runs = [
        f"{run.start()} {count - 1 - row_index} {run.end() - run.start()} 1 re"
        for row_index, row in enumerate(modules)
        for run in _DARK_RUN.finditer(bytes(row))
    ]
    content.raw(" ".join(runs) + " f Q")
    page.top = bottom - 8


def _draw_table(page: _Page, contacts: Sequence[SignContact]) -> None:
    """Draw who handles which categories, shrinking the text (and at the end dropping rows) to fit."""
    heading_size = 13.0
    smallest_line_box = _TABLE_MIN_SIZE * 1.3 + 2 * _TABLE_MIN_SIZE * 0.4
    if page.top - heading_size * 1.5 - 2 * smallest_line_box < _BOTTOM + _FOOTER_HEIGHT + 4:
        return  # Not even the column heads and the "n more" line fit: leave the table out.
    page.text(_LEFT, page.top - heading_size * _ASCENT, TABLE_HEADING, heading_size, _RED, bold=True)
    page.top -= heading_size * 1.5
    rows = [
        (
            "、".join(clean_text(category) for category in contact.categories if clean_text(category)) or "—",
            clean_text(contact.role),
            clean_text(contact.name),
            clean_text(contact.phone),
        )
        for contact in contacts
    ]
    widths = [share * _CONTENT_WIDTH for share in _COLUMN_SHARES]
    available = page.top - _BOTTOM - _FOOTER_HEIGHT - 4
    size, laid_out, omitted = _fit_table(rows, widths, available)
    line_height = size * 1.3
    padding = size * 0.4
    content = page.content

    header_height = line_height + 2 * padding
    content.fill_rgb(*_LIGHT)
    content.fill_rect(_LEFT, page.top - header_height, _CONTENT_WIDTH, header_height)
    x = _LEFT
    for column, width in zip(TABLE_COLUMNS, widths):
        page.text(x + padding, page.top - padding - size * _ASCENT, column, size, _INK, bold=True)
        x += width
    page.top -= header_height
    content.stroke_rgb(0.7, 0.7, 0.7)
    for cells in laid_out:
        row_height = max(len(lines) for lines in cells) * line_height + 2 * padding
        x = _LEFT
        for lines, width in zip(cells, widths):
            for index, line in enumerate(lines):
                page.text(x + padding, page.top - padding - size * _ASCENT - index * line_height, line, size, _INK)
            x += width
        page.top -= row_height
        content.stroke_rgb(0.7, 0.7, 0.7)
        content.line(_LEFT, page.top, _RIGHT, page.top, 0.5)
    if omitted:
        note = f"另有 {omitted} 位专业网格员，详见社区公示"
        page.text(_LEFT + padding, page.top - padding - size * _ASCENT, note, size, _GREY)


def _fit_table(
    rows: Sequence[tuple[str, ...]], widths: Sequence[float], available: float
) -> tuple[float, list[list[list[str]]], int]:
    """Pick the largest text size at which the table fits `available` height.

    Returns (size, wrapped cells of the rows that fit, number of rows left out). At the
    smallest size, rows that do not fit are left out and a line is kept free to say so.
    """
    sizes = [_TABLE_MAX_SIZE - 0.5 * step for step in range(int((_TABLE_MAX_SIZE - _TABLE_MIN_SIZE) / 0.5) + 1)]
    layouts: dict[float, tuple[list[list[list[str]]], list[float], float]] = {}

    def layout(size: float) -> tuple[list[list[list[str]]], list[float], float]:
        if size not in layouts:
            line_height, padding = size * 1.3, size * 0.4
            laid_out = [[_wrap_cell(text, size, width - 2 * padding) for text, width in zip(row, widths)] for row in rows]
            heights = [max(len(lines) for lines in cells) * line_height + 2 * padding for cells in laid_out]
            layouts[size] = laid_out, heights, line_height + 2 * padding
        return layouts[size]

    def fits(size: float) -> bool:
        _, heights, header = layout(size)
        return header + sum(heights) <= available

    if fits(sizes[0]):
        return sizes[0], layout(sizes[0])[0], 0
    # Binary search for the first size that fits: a smaller size never needs more room.
    low, high = 1, len(sizes)
    while low < high:
        middle = (low + high) // 2
        if fits(sizes[middle]):
            high = middle
        else:
            low = middle + 1
    if low < len(sizes):
        return sizes[low], layout(sizes[low])[0], 0
    size = sizes[-1]
    laid_out, heights, line_box = layout(size)
    # Keep room for the header and the "n more" line.
    budget = available - 2 * line_box
    kept = 0
    for height in heights:
        if height > budget:
            break
        budget -= height
        kept += 1
    return size, laid_out[:kept], len(rows) - kept


def _wrap_cell(text: str, size: float, width: float) -> list[str]:
    lines = wrap_text(text, size, width) or [""]
    if len(lines) > _CELL_MAX_LINES:
        _, lines = fit_text(text, width, max_size=size, min_size=size, max_lines=_CELL_MAX_LINES)
    return lines
