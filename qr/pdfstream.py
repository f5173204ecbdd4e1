"""A minimal PDF writer that streams each page to its output as soon as it is built."""

import io
import tempfile
import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import BinaryIO

A4 = (595.2756, 841.8898)
"""A4 in PDF points (210 x 297 mm)."""

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
_PAGES_OBJECT = 1
_CATALOG_OBJECT = 2
# Each cross-reference entry is exactly 20 bytes: "nnnnnnnnnn ggggg n \n".
_XREF_ENTRY_SIZE = 20
_COPY_CHUNK = 64 * 1024


def pdf_number(value: float) -> str:
    """A PDF number with at most 3 decimals and no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def pdf_text_string(text: str) -> str:
    """A PDF text string (UTF-16BE with byte order mark, as hex) for document metadata."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


class PdfStreamWriter:
    """Writes a PDF object by object to a binary file-like object, never seeking in it.

    Nothing grows in memory with the document: the cross-reference entries (20 bytes
    per object, at a fixed place per object number) and the page references go to two
    anonymous temporary files, copied into the output by finish(). Object numbers come
    from reserve(); an object may be referenced before it is written. Use as a context
    manager (or call discard()) so that the temporary files are released on errors too.
    """

    def __init__(self, out: BinaryIO, *, page_size: tuple[float, float] = A4, compress_level: int = 6):
        self._out = out
        self._position = 0
        self._object_count = 0
        self._page_count = 0
        self._xref = tempfile.TemporaryFile()
        self._kids = tempfile.TemporaryFile()
        self._compress_level = compress_level
        width, height = page_size
        self._media_box = f"[0 0 {pdf_number(width)} {pdf_number(height)}]"
        self._write(_HEADER)
        for expected in (_PAGES_OBJECT, _CATALOG_OBJECT):
            if self.reserve() != expected:  # not an assert: `python -O` would skip the reserve()
                raise RuntimeError(f"object {expected} of the page tree was not the next one")

    def __enter__(self) -> "PdfStreamWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.discard()

    @property
    def page_count(self) -> int:
        return self._page_count

    def reserve(self) -> int:
        """Allocate the number of an object to be written later."""
        self._object_count += 1
        return self._object_count

    def write_object(self, number: int, body: str | bytes) -> None:
        """Write object `number` (from reserve()) whose body is a PDF value, e.g. a dictionary."""
        if isinstance(body, str):
            body = body.encode("latin-1")
        self._begin_object(number)
        self._write(body)
        self._write(b"\nendobj\n")

    def write_stream(self, number: int, data: bytes, entries: str = "", *, compress: bool = True) -> None:
        """Write object `number` as a stream of `data`; `entries` are extra dictionary entries."""
        if compress:
            data = zlib.compress(data, self._compress_level)
        dictionary = " ".join(
            part for part in (f"/Length {len(data)}", entries, "/Filter /FlateDecode" if compress else "") if part
        )
        self.write_object(number, f"<< {dictionary} >>\nstream\n".encode("latin-1") + data + b"\nendstream")

    def add_page(self, content: bytes, resources_object: int) -> int:
        """Write one page whose content stream is `content`; return its object number."""
        content_number = self.reserve()
        self.write_stream(content_number, content)
        page_number = self.reserve()
        self.write_object(
            page_number,
            f"<< /Type /Page /Parent {_PAGES_OBJECT} 0 R /MediaBox {self._media_box} "
            f"/Resources {resources_object} 0 R /Contents {content_number} 0 R >>",
        )
        self._kids.write(b"%d 0 R\n" % page_number)
        self._page_count += 1
        return page_number

    def finish(self, info: dict[str, str] | None = None) -> int:
        """Write the page tree, catalog, cross-reference table and trailer; return the page count.

        `info` holds document information entries as text, e.g. {"Title": "..."}.
        Raises ValueError when there is no page or a reserved object was never written.
        The output is left open; the temporary files are released.
        """
        if not self._page_count:
            raise ValueError("a PDF needs at least one page")
        # A flat /Kids array: valid for any count, and read fine by viewers.
        self._begin_object(_PAGES_OBJECT)
        self._write(b"<< /Type /Pages /Count %d /Kids [\n" % self._page_count)
        self._copy(self._kids)
        self._write(b"] >>\nendobj\n")
        self.write_object(_CATALOG_OBJECT, f"<< /Type /Catalog /Pages {_PAGES_OBJECT} 0 R >>")
        info_entry = ""
        if info:
            info_number = self.reserve()
            entries = " ".join(f"/{key} {pdf_text_string(value)}" for key, value in info.items())
            self.write_object(info_number, f"<< {entries} >>")
            info_entry = f" /Info {info_number} 0 R"
        self._check_all_written()
        xref_position = self._position
        self._write(b"xref\n0 %d\n0000000000 65535 f \n" % (self._object_count + 1))
        self._copy(self._xref)
        self._write(
            f"trailer\n<< /Size {self._object_count + 1} /Root {_CATALOG_OBJECT} 0 R{info_entry} >>\n"
            f"startxref\n{xref_position}\n%%EOF\n".encode("latin-1")
        )
        if hasattr(self._out, "flush"):
            self._out.flush()
        self.discard()
        return self._page_count

    def discard(self) -> None:
        """Release the temporary files; the writer cannot be used afterwards."""
        self._xref.close()
        self._kids.close()

    def _begin_object(self, number: int) -> None:
        if not 0 < number <= self._object_count:
            raise ValueError(f"object {number} was never reserved")
        entry_at = (number - 1) * _XREF_ENTRY_SIZE
        self._xref.seek(entry_at)
        if self._xref.read(1) not in (b"", b"\0"):
            raise ValueError(f"object {number} was already written")
        self._xref.seek(entry_at)
        self._xref.write(b"%010d 00000 n \n" % self._position)
        self._write(b"%d 0 obj\n" % number)

    def _check_all_written(self) -> None:
        self._xref.seek(0, io.SEEK_END)
        missing = self._xref.tell() < self._object_count * _XREF_ENTRY_SIZE
        self._xref.seek(0)
        # Entries never written read back as zero bytes (a hole in the temporary file).
        while not missing and (chunk := self._xref.read(_COPY_CHUNK)):
            missing = b"\0" in chunk
        if missing:
            raise ValueError("an object was reserved but never written")

    def _copy(self, spool: BinaryIO) -> None:
        spool.seek(0)
        while chunk := spool.read(_COPY_CHUNK):
            self._write(chunk)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._position += len(data)


@lru_cache(maxsize=64)
def _colour_operator(red: float, green: float, blue: float, operator: str) -> str:
    return f"{pdf_number(red)} {pdf_number(green)} {pdf_number(blue)} {operator}"


class PageContent:
    """Builds one page's content stream from drawing operations (origin bottom left, points)."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def raw(self, operators: str) -> None:
        self._parts.append(operators)

    def fill_rgb(self, red: float, green: float, blue: float) -> None:
        self._parts.append(_colour_operator(red, green, blue, "rg"))

    def stroke_rgb(self, red: float, green: float, blue: float) -> None:
        self._parts.append(_colour_operator(red, green, blue, "RG"))

    def fill_rect(self, x: float, y: float, width: float, height: float) -> None:
        self._parts.append(f"{pdf_number(x)} {pdf_number(y)} {pdf_number(width)} {pdf_number(height)} re f")

    def stroke_rect(self, x: float, y: float, width: float, height: float, line_width: float) -> None:
        self._parts.append(
            f"{pdf_number(line_width)} w {pdf_number(x)} {pdf_number(y)} {pdf_number(width)} {pdf_number(height)} re S"
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, line_width: float) -> None:
        self._parts.append(
            f"{pdf_number(line_width)} w {pdf_number(x1)} {pdf_number(y1)} m {pdf_number(x2)} {pdf_number(y2)} l S"
        )

    def fill_rects(self, rects: Iterable[tuple[float, float, float, float]]) -> None:
        """Fill many rectangles as one path, so that touching rectangles leave no seams."""
        path = " ".join(
            f"{pdf_number(x)} {pdf_number(y)} {pdf_number(w)} {pdf_number(h)} re" for x, y, w, h in rects
        )
        if path:
            self._parts.append(path + " f")

    def text(self, font: str, size: float, x: float, y: float, encoded: str, *, bold: bool = False) -> None:
        """Show `encoded` (a PDF string operand, e.g. from CidFont.encode) with its baseline start at (x, y)."""
        # STSong-Light comes in one weight; bold is faked by also stroking the outline.
        # The rendering mode outlives ET, so every text sets it.
        weight = f"2 Tr {pdf_number(size * 0.03)} w " if bold else "0 Tr "
        self._parts.append(f"BT /{font} {pdf_number(size)} Tf {weight}{pdf_number(x)} {pdf_number(y)} Td {encoded} Tj ET")

    def getvalue(self) -> bytes:
        return "\n".join(self._parts).encode("latin-1")
