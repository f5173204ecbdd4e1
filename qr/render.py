"""QR symbols for building URLs: module matrix, PNG and SVG, at error correction level Q.

The symbols come from zxing-cpp's writer through its public API only (`create_barcode`
and the barcode's `to_image`): it picks the smallest version that holds the data at the
level asked for (segmenting the text into numeric, alphanumeric and byte runs), never
raises the level on its own, and chooses the mask. This module only turns the symbol's
one-pixel-per-module image into rows of modules and draws them.
"""

import io
import re
from dataclasses import dataclass

import PIL.Image
import PIL.ImageOps
import zxingcpp

# Level Q restores up to 25% damage: a printed sign outdoors gets dirty, scratched and
# taped over, and the URLs are short enough that Q still gives a small symbol.
ERROR_CORRECTION = "Q"

QUIET_ZONE = 4
"""Modules of light margin the standard asks for around a QR symbol (used by qr_svg)."""

# The writer's image: 0 for a dark module, 255 for a light one.
_PIXEL_TO_MODULE = bytes.maketrans(b"\x00\xff", b"\x01\x00")
_MODULE_TO_PIXEL = bytes.maketrans(b"\x01\x00", b"\x00\xff")
_DARK_RUN = re.compile(b"\x01+")


@dataclass(frozen=True, slots=True)
class QRSymbol:
    """One QR symbol, without its quiet zone."""

    version: int
    """1 to 40: the symbol is 4 * version + 17 modules on each side."""
    modules: tuple[bytes, ...]
    """The rows of modules, top to bottom, one byte per module: 1 for dark, 0 for light."""

    @property
    def size(self) -> int:
        """Modules on each side."""
        return len(self.modules)


def make_qr(data: str | bytes) -> QRSymbol:
    """Build the QR symbol for `data`: the smallest version that fits, level Q.

    A str is encoded as text (segmented into the most compact modes), bytes in byte mode.
    Raises ValueError when `data` is empty or does not fit in version 40.
    """
    barcode = zxingcpp.create_barcode(data, zxingcpp.BarcodeFormat.QRCode, ec_level=ERROR_CORRECTION)
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape
    version, remainder = divmod(width - 17, 4)
    if height != width or remainder or not 1 <= version <= 40 or barcode.ec_level != ERROR_CORRECTION:
        raise ValueError(f"unexpected QR symbol from zxing-cpp: {width}x{height} modules, level {barcode.ec_level!r}")
    pixels = bytes(memoryview(image)).translate(_PIXEL_TO_MODULE)
    return QRSymbol(version, tuple(pixels[start : start + width] for start in range(0, width * width, width)))


def qr_matrix(data: str | bytes) -> list[list[bool]]:
    """The symbol's modules, True for dark, without a quiet zone."""
    return [[module == 1 for module in row] for row in make_qr(data).modules]


def qr_png(data: str | bytes, *, box_size: int = 10, border: int = 4) -> bytes:
    """A 1-bit PNG of the symbol, `box_size` pixels per module and `border` modules of quiet zone."""
    symbol = make_qr(data)
    image = PIL.Image.frombytes("L", (symbol.size, symbol.size), b"".join(symbol.modules).translate(_MODULE_TO_PIXEL))
    image = PIL.ImageOps.expand(image, border=border, fill=255)
    side = image.width * box_size
    image = image.resize((side, side), PIL.Image.Resampling.NEAREST).convert("1", dither=PIL.Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(data: str | bytes) -> str:
    """A standalone SVG document of the symbol (one path, 4-module quiet zone), 1 mm per module."""
    symbol = make_qr(data)
    side = symbol.size + 2 * QUIET_ZONE
    path = "".join(
        f"M{QUIET_ZONE + run.start()},{QUIET_ZONE + row_index}h{run.end() - run.start()}v1h-{run.end() - run.start()}z"
        for row_index, row in enumerate(symbol.modules)
        for run in _DARK_RUN.finditer(row)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{side}mm" height="{side}mm" '
        f'viewBox="0 0 {side} {side}"><path d="{path}" fill="#000000" shape-rendering="crispEdges"/></svg>'
    )
