"""The standard non-embedded Chinese PDF font STSong-Light: metrics, text encoding, font objects."""

from functools import lru_cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

from qr.pdfstream import PdfStreamWriter

FONT_NAME = "STSong-Light"
"""One of the fonts every PDF reader provides for Adobe-GB1 (simplified Chinese)."""

# The values reportlab writes for this font (reportlab.pdfbase._cidfontdata): the
# descriptor, and the widths of the proportional Latin glyphs (CIDs 1-95, which
# UniGB-UCS2-H maps U+0020-U+007E to); every other glyph is 1000 units wide.
_DESCRIPTOR = (
    "/Ascent 752 /CapHeight 737 /Descent -271 /Flags 6 /FontBBox [-25 -254 1000 880] "
    "/ItalicAngle 0 /Leading 148 /MaxWidth 1000 /MissingWidth 500 /StemH 91 /StemV 58 /XHeight 553"
)
_WIDTHS = (
    "[1 [207 270 342 467 462 797 710 239 374] 10 [374 423 605 238 375 238 334 462] "
    "18 26 462 27 28 238 29 31 605 "
    "32 [344 748 684 560 695 739 563 511 729 793 318 312 666 526 896 758 772 544 772 628 465 "
    "607 753 711 972 647 620 607 374 333 374 606 500 239 417 503 427 529 415 264 444 518 241 "
    "230 495 228 793 527 524] 81 [524 504 338 336 277 517 450 652 466 452 407 370 258 370 605]]"
)
_TO_UNICODE_HEAD = """/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
"""
_TO_UNICODE_TAIL = """endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""
# A CMap section may hold at most 100 entries.
_CMAP_SECTION = 100
# Characters shown with the code of a look-alike that more readers have a glyph for:
# poppler (evince, okular, CUPS printing) draws U+00B7 from UniGB-UCS2-H as a box but
# U+30FB as the same middle dot. /ToUnicode maps the code back to the original character.
_GLYPH_STAND_INS = {"\u00b7": "\u30fb"}
_STAND_IN_TABLE = str.maketrans(_GLYPH_STAND_INS)


def _register() -> None:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT_NAME))


_register()


def clean_text(text: str | None) -> str:
    """`text` made showable: None becomes "", whitespace runs one space, what UCS-2 cannot encode '?'."""
    text = "" if text is None else " ".join(str(text).split())
    if text.isascii():
        return text
    # UniGB-UCS2-H encodes one UTF-16 code unit per character: nothing outside the BMP.
    return "".join(ch if ord(ch) <= 0xFFFF and not 0xD800 <= ord(ch) <= 0xDFFF else "?" for ch in text)


@lru_cache(maxsize=16384)
def _char_width(ch: str) -> float:
    return pdfmetrics.stringWidth(ch, FONT_NAME, 1)


def text_units(text: str) -> float:
    """The width of `text` set in STSong-Light at 1 point."""
    return sum(map(_char_width, text))


def text_width(text: str, size: float) -> float:
    """The width in points of `text` set in STSong-Light at `size` points."""
    return size * sum(map(_char_width, text))


class CidFont:
    """STSong-Light as a Type0 font of one document; remembers the characters shown for /ToUnicode."""

    def __init__(self, writer: PdfStreamWriter):
        self.object_number = writer.reserve()
        self._used: set[str] = set()

    def encode(self, text: str) -> str:
        """`text` (already passed through clean_text) as a hex string operand for Tj."""
        self._used.update(text)
        return "<" + text.translate(_STAND_IN_TABLE).encode("utf-16-be").hex() + ">"

    def write(self, writer: PdfStreamWriter) -> None:
        """Write the font's objects; call once, after the last page."""
        descendant, descriptor, to_unicode = writer.reserve(), writer.reserve(), writer.reserve()
        writer.write_object(
            self.object_number,
            f"<< /Type /Font /Subtype /Type0 /BaseFont /{FONT_NAME} /Encoding /UniGB-UCS2-H "
            f"/DescendantFonts [{descendant} 0 R] /ToUnicode {to_unicode} 0 R >>",
        )
        writer.write_object(
            descendant,
            f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{FONT_NAME} "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> "
            f"/FontDescriptor {descriptor} 0 R /DW 1000 /W {_WIDTHS} >>",
        )
        writer.write_object(descriptor, f"<< /Type /FontDescriptor /FontName /{FONT_NAME} {_DESCRIPTOR} >>")
        writer.write_stream(to_unicode, self._to_unicode_cmap())

    def _to_unicode_cmap(self) -> bytes:
        # The codes are UTF-16BE already: each maps to itself, but for the stand-ins.
        to_unicode: dict[int, int] = {}
        for ch in sorted(self._used, reverse=True):
            to_unicode[ord(_GLYPH_STAND_INS.get(ch, ch))] = ord(ch)
        codes = sorted(to_unicode)
        sections = []
        for start in range(0, len(codes), _CMAP_SECTION):
            chunk = codes[start : start + _CMAP_SECTION]
            entries = "\n".join(f"<{code:04X}> <{to_unicode[code]:04X}>" for code in chunk)
            sections.append(f"{len(chunk)} beginbfchar\n{entries}\nendbfchar\n")
        return (_TO_UNICODE_HEAD + "".join(sections) + _TO_UNICODE_TAIL).encode("ascii")
