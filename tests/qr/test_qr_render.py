"""Tests of qr.render: the symbols decode to the exact data, at level Q, in the smallest version."""

import ast
import io
import random
import re
import string
import xml.etree.ElementTree as ET
from pathlib import Path

import PIL.Image
import pytest
import zxingcpp

from qr.codes import CODE_ALPHABET, CODE_LENGTH, new_code
from qr.render import ERROR_CORRECTION, QRSymbol, make_qr, qr_matrix, qr_png, qr_svg
from qr.urls import building_url

URL = "https://grid.example.gov.cn/b/3kTMd2hZp8QvXy0aBcDeFg"
QR_DIR = Path(__file__).resolve().parents[2] / "qr"

# ISO/IEC 18004 table 7: data codewords of versions 1 to 40 at error correction level Q.
Q_DATA_CODEWORDS = (
    13, 22, 34, 48, 62, 76, 88, 110, 132, 154, 180, 206, 244, 261, 295, 325, 367, 397, 445, 485,
    512, 568, 614, 664, 718, 754, 808, 871, 911, 985, 1033, 1115, 1171, 1231, 1286, 1354, 1426, 1502, 1582, 1666,
)
# Byte mode characters that fit at level Q: (8 * codewords - 4 mode bits - count bits) // 8.
Q_BYTE_CAPACITY = {v: (8 * Q_DATA_CODEWORDS[v - 1] - 4 - (8 if v < 10 else 16)) // 8 for v in range(1, 41)}
_ALNUM = frozenset(string.digits + string.ascii_uppercase + " $%*+-./:")


def _count_bits(mode: str, version: int) -> int:
    """Width of the character count field (ISO/IEC 18004 table 3)."""
    column = 0 if version < 10 else 1 if version < 27 else 2
    return {"numeric": (10, 12, 14), "alnum": (9, 11, 13), "byte": (8, 16, 16)}[mode][column]


def _segment_bits(mode: str, count: int) -> int:
    if mode == "numeric":
        return 10 * (count // 3) + (0, 4, 7)[count % 3]
    if mode == "alnum":
        return 11 * (count // 2) + 6 * (count % 2)
    return 8 * count


def fewest_bits(data: str, version: int) -> int:
    """The fewest data bits any split of ASCII `data` into numeric, alphanumeric and byte segments takes."""
    best = [0] + [None] * len(data)
    for end in range(1, len(data) + 1):
        for start in range(end):
            if best[start] is None:
                continue
            chunk = data[start:end]
            for mode in ("numeric", "alnum", "byte"):
                if mode == "numeric" and not chunk.isdigit() or mode == "alnum" and not _ALNUM.issuperset(chunk):
                    continue
                bits = best[start] + 4 + _count_bits(mode, version) + _segment_bits(mode, len(chunk))
                if best[end] is None or bits < best[end]:
                    best[end] = bits
    return best[-1]


def smallest_q_version(data: str) -> int:
    """The smallest QR version whose level Q data capacity holds `data` (ASCII) in the best segmentation."""
    return next(v for v in range(1, 41) if fewest_bits(data, v) <= 8 * Q_DATA_CODEWORDS[v - 1])


def matrix_image(matrix: list[list[bool]], *, module_px: int = 4, quiet: int = 4) -> PIL.Image.Image:
    """Draw a module matrix (True dark) with a light quiet zone, independently of qr.render."""
    side = len(matrix) + 2 * quiet
    image = PIL.Image.new("L", (side, side), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.putpixel((x + quiet, y + quiet), 0)
    return image.resize((side * module_px, side * module_px), PIL.Image.Resampling.NEAREST)


def decode(image: PIL.Image.Image) -> zxingcpp.Barcode:
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1
    return results[0]


def assert_symbol(result: zxingcpp.Barcode, data: str, version: int) -> None:
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    assert result.text == data
    assert result.ec_level == "Q"
    assert result.extra["ECLevel"] == "Q"
    assert int(result.extra["Version"]) == version


def random_urls(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        building_url("https://example.gov.cn", "".join(rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)))
        for _ in range(count)
    ]


def test_reference_capacity_table_matches_the_standards_byte_capacities():
    # The byte capacities ISO/IEC 18004 table 7 lists for level Q, derived from the codewords above.
    assert [Q_BYTE_CAPACITY[v] for v in (1, 2, 3, 4, 5, 9, 10, 20, 40)] == [11, 20, 32, 46, 60, 130, 151, 482, 1663]


@pytest.mark.parametrize("url", random_urls(12, seed=1) + [building_url("https://example.gov.cn", new_code())])
def test_building_urls_decode_at_level_q_in_the_smallest_version(url):
    version = smallest_q_version(url)
    symbol = make_qr(url)
    assert symbol.version == version
    assert_symbol(decode(PIL.Image.open(io.BytesIO(qr_png(url)))), url, version)
    assert_symbol(decode(matrix_image(qr_matrix(url))), url, version)


def test_many_building_urls_take_the_smallest_version():
    # 47 characters: one more than version 4-Q holds in byte mode, so version 5 unless the
    # code has runs of digits or capitals long enough for a cheaper segment.
    versions = []
    for url in random_urls(300, seed=2):
        assert len(url) == 47
        versions.append(make_qr(url).version)
        assert versions[-1] == smallest_q_version(url)
    assert set(versions) <= {4, 5} and versions.count(5) > 250


# Lower-case text has only byte mode, so its version is exact: the last length of each
# version and the first of the next.
@pytest.mark.parametrize("version", [1, 2, 3, 4, 5, 6, 9, 10, 15])
def test_version_boundaries_of_byte_mode_text(version):
    rng = random.Random(version)
    capacity = Q_BYTE_CAPACITY[version]
    for length, expected in ((capacity, version), (capacity + 1, version + 1)):
        data = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
        assert smallest_q_version(data) == expected
        symbol = make_qr(data)
        assert symbol.version == expected and symbol.size == 4 * expected + 17
        assert_symbol(decode(matrix_image(qr_matrix(data), module_px=3)), data, expected)


@pytest.mark.parametrize(
    "data",
    [
        "https://X.CN/B/" + "0123456789" * 3,  # numeric and alphanumeric segments
        "http://127.0.0.1:5000/b/" + "Z" * 32,
        "https://x.cn/b/a",
        "1" * 27,  # the most digits version 1-Q holds
        "1" * 28,
        "A" * 16,  # the most alphanumeric characters version 1-Q holds
        "A" * 17,
    ],
)
def test_segmented_text_takes_the_smallest_version(data):
    version = smallest_q_version(data)
    assert make_qr(data).version == version
    assert_symbol(decode(matrix_image(qr_matrix(data))), data, version)


def test_non_ascii_text_and_bytes_round_trip():
    for data in ("中文也可以", "菏泽市牡丹区 ✓"):
        assert decode(PIL.Image.open(io.BytesIO(qr_png(data)))).text == data
    result = decode(PIL.Image.open(io.BytesIO(qr_png(b"https://x.cn/b/bytes"))))
    assert result.bytes == b"https://x.cn/b/bytes" and result.ec_level == "Q"


def test_empty_or_oversized_data_is_refused():
    with pytest.raises(ValueError):
        make_qr("")
    with pytest.raises(ValueError):
        make_qr("x" * (Q_BYTE_CAPACITY[40] + 1))
    assert make_qr("x" * Q_BYTE_CAPACITY[40]).version == 40


def test_make_qr_gives_rows_of_module_bytes():
    symbol = make_qr(URL)
    assert isinstance(symbol, QRSymbol) and ERROR_CORRECTION == "Q"
    assert symbol.size == 4 * symbol.version + 17 == len(symbol.modules)
    assert all(isinstance(row, bytes) and len(row) == symbol.size and set(row) <= {0, 1} for row in symbol.modules)
    assert [[m == 1 for m in row] for row in symbol.modules] == qr_matrix(URL)


def test_qr_matrix_is_the_square_symbol_without_quiet_zone():
    matrix = qr_matrix(URL)
    assert len(matrix) == 4 * make_qr(URL).version + 17
    assert all(len(row) == len(matrix) and all(isinstance(m, bool) for m in row) for row in matrix)
    # Finder patterns in three corners: the symbol starts right at the edge.
    for row in (matrix[0], matrix[6], matrix[-1], matrix[-7]):
        assert row[:7] == [True] * 7
    assert matrix[0][-7:] == [True] * 7
    assert matrix[1][:7] == [True, False, False, False, False, False, True]
    assert matrix[7][:8] == [False] * 8  # separator
    # Timing pattern on row 6 between the finders.
    assert matrix[6][8:-8] == [index % 2 == 0 for index in range(8, len(matrix) - 8)]


def test_qr_png_is_1_bit_with_box_size_and_border():
    modules = len(qr_matrix(URL))
    for box_size, border in ((10, 4), (3, 2), (1, 0)):
        image = PIL.Image.open(io.BytesIO(qr_png(URL, box_size=box_size, border=border)))
        assert image.format == "PNG" and image.mode == "1"
        assert image.size == ((modules + 2 * border) * box_size,) * 2
    image = PIL.Image.open(io.BytesIO(qr_png(URL, box_size=3, border=2)))
    assert decode(image.convert("L").resize((image.width * 2, image.height * 2))).text == URL
    # The PNG shows exactly the matrix: sample every module's centre.
    image = PIL.Image.open(io.BytesIO(qr_png(URL, box_size=5, border=4))).convert("L")
    matrix = qr_matrix(URL)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            assert (image.getpixel(((x + 4) * 5 + 2, (y + 4) * 5 + 2)) == 0) == dark
    assert image.getpixel((2, 2)) == 255


def test_qr_svg_is_well_formed_svg_of_the_symbol():
    svg = qr_svg(URL)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    matrix = qr_matrix(URL)
    side = len(matrix) + 8
    assert root.get("viewBox") == f"0 0 {side} {side}"
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1
    # The path is exactly the dark modules, shifted by the 4-module quiet zone.
    drawn = set()
    for x, y, width in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\3z", paths[0].get("d")):
        drawn.update((int(x) + i - 4, int(y) - 4) for i in range(int(width)))
    assert drawn == {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark}
    assert re.fullmatch(r"(M\d+,\d+h\d+v1h-\d+z)+", paths[0].get("d"))


def test_qr_svg_renders_to_a_readable_symbol():
    # Rasterise the SVG's rectangles (no SVG renderer needed) and read it.
    svg = qr_svg(URL)
    side = int(ET.fromstring(svg).get("viewBox").split()[2])
    matrix = [[False] * side for _ in range(side)]
    for x, y, width in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\3z", svg):
        for i in range(int(width)):
            matrix[int(y)][int(x) + i] = True
    assert_symbol(decode(matrix_image(matrix, quiet=0)), URL, make_qr(URL).version)


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
            names.update(f"{node.module}.{alias.name}" for alias in node.names if node.module)
    return names


def test_qr_package_uses_no_private_qrcode_internals_nor_the_web_app():
    sources = sorted(QR_DIR.glob("**/*.py"))
    assert QR_DIR / "render.py" in sources
    assert not (QR_DIR / "_fastqr.py").exists()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for private in ("qrcode.base", "qrcode.util", "_fastqr", "from qrcode import base", "from qrcode import util"):
            assert private not in text, f"{path.name} uses {private}"
        for name in _imported_modules(path):
            top = name.split(".")[0]
            # qrcode is no longer used at all; the symbols come from zxing-cpp's public API.
            assert top not in {"qrcode", "webapp", "miniprogram_api"}, f"{path.name} imports {name}"
