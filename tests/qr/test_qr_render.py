"""Tests of qr.render: the symbols decode to the exact data, at error correction level Q."""

import io
import xml.etree.ElementTree as ET

import PIL.Image
import qrcode
import zxingcpp

from qr.render import ERROR_CORRECTION, make_qr, qr_matrix, qr_png, qr_svg

URL = "https://grid.example.gov.cn/b/3kTMd2hZp8QvXy0aBcDeFg"


def decode(image: PIL.Image.Image) -> zxingcpp.Barcode:
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    return results[0]


def test_qr_png_decodes_to_the_exact_url_at_level_q():
    result = decode(PIL.Image.open(io.BytesIO(qr_png(URL))))
    assert result.format == zxingcpp.BarcodeFormat.QRCode
    assert result.text == URL
    assert result.ec_level == "Q"


def test_qr_png_size_follows_box_size_and_border():
    modules = len(qr_matrix(URL))
    image = PIL.Image.open(io.BytesIO(qr_png(URL, box_size=3, border=2)))
    assert image.format == "PNG"
    assert image.size == ((modules + 4) * 3, (modules + 4) * 3)
    assert decode(image.convert("L").resize((image.width * 2, image.height * 2))).text == URL


def test_qr_matrix_is_the_square_symbol_without_quiet_zone():
    matrix = qr_matrix(URL)
    version = make_qr(URL).version
    assert len(matrix) == 4 * version + 17
    assert all(len(row) == len(matrix) and all(isinstance(m, bool) for m in row) for row in matrix)
    # Finder pattern in the top-left corner: the symbol starts right at the edge.
    assert matrix[0][:7] == [True] * 7
    assert matrix[1][:7] == [True, False, False, False, False, False, True]


def test_qr_matrix_equals_qrcode_libraries_symbol():
    for data in [URL, "https://x.cn/b/a", "http://127.0.0.1:5000/b/" + "Z" * 32, "中文也可以"]:
        reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0)
        reference.add_data(data)
        reference.make(fit=True)
        assert qr_matrix(data) == [[bool(m) for m in row] for row in reference.modules]
    assert ERROR_CORRECTION == qrcode.constants.ERROR_CORRECT_Q


def test_qr_svg_is_well_formed_svg_of_the_symbol():
    svg = qr_svg(URL)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    modules = len(qr_matrix(URL)) + 8
    assert root.get("viewBox") == f"0 0 {modules} {modules}"
    paths = root.findall("{http://www.w3.org/2000/svg}path")
    assert len(paths) == 1 and paths[0].get("d")
