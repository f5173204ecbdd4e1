"""QR symbols for building URLs: module matrix, PNG and SVG, at error correction level Q."""

import io

import qrcode.constants
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

from qr._fastqr import FastQRCode

# Level Q restores up to 25% damage: a printed sign outdoors gets dirty, scratched and
# taped over, and the URLs are short enough that Q still gives a small symbol.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_Q


def make_qr(data: str | bytes, *, border: int = 0) -> qrcode.QRCode:
    """Build the QR symbol for `data` (the smallest version that fits, level Q)."""
    code = FastQRCode(error_correction=ERROR_CORRECTION, border=border)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_matrix(data: str | bytes) -> list[list[bool]]:
    """The symbol's modules, True for dark, without a quiet zone."""
    return [[bool(module) for module in row] for row in make_qr(data).modules]


def qr_png(data: str | bytes, *, box_size: int = 10, border: int = 4) -> bytes:
    """A 1-bit PNG of the symbol, `box_size` pixels per module and `border` modules of quiet zone."""
    code = make_qr(data, border=border)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image(image_factory=PilImage).save(buffer)
    return buffer.getvalue()


def qr_svg(data: str | bytes) -> str:
    """A standalone SVG document of the symbol (one path, 4-module quiet zone)."""
    code = make_qr(data, border=4)
    return code.make_image(image_factory=SvgPathImage).to_string(encoding="unicode")
