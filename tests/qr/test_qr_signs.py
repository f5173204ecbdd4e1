"""Tests of qr.signs: one print-ready A4 page per sign, streamed, with a scannable QR code."""

import io
import logging
import tempfile
import tracemalloc

import pypdf
import pypdfium2 as pdfium
import pytest
import zxingcpp

from qr.codes import new_code
from qr.render import qr_matrix
from qr.signs import CAPTION, QR_SIDE, Sign, SignContact, write_signs_pdf
from qr.urls import building_url

BASE_URL = "https://grid.example.gov.cn"
DPI = 150


def make_sign(index: int = 1, **overrides) -> Sign:
    fields = dict(
        building_name=f"和平小区{index}号楼",
        address=f"山东省菏泽市牡丹区西城街道和平路{100 + index}号",
        community_name="和平社区",
        grid_name="第三网格",
        url=building_url(BASE_URL, new_code()),
        contacts=(
            SignContact("网格员", "王秀英", "138****5678"),
            SignContact("专业网格员", "李建国", "139****1234", ("房屋安全", "物业管理")),
            SignContact("专业网格员", "张伟", "137****0000", ("市容环境", "违章搭建")),
        ),
        street_name="西城街道",
    )
    fields.update(overrides)
    return Sign(**fields)


def make_crowded_sign(url: str) -> Sign:
    categories = ("房屋安全", "物业管理", "电梯故障", "市容环境", "违章搭建", "占道经营", "垃圾清运", "噪音扰民", "消防通道堵塞")
    contacts = (SignContact("网格员", "欧阳秀英", "138****5678"),) + tuple(
        SignContact(f"专业网格员（{department}）", f"司马{index}", f"139****{index:04d}", categories[: index % 9 + 1])
        for index, department in enumerate(["住建局房屋安全管理中心", "城市管理综合执法局", "卫健", "应急管理局"] * 6)
    )
    return make_sign(
        building_name="锦绣花园二期东区高层住宅第十七号楼（含地下车库及沿街商铺）" * 2,
        address="山东省菏泽市牡丹区西城街道和平路与中华路交叉口向北二百米路东锦绣花园二期东区 Building 17 " * 4,
        community_name="和平社区居民委员会" * 3,
        grid_name="第三网格（锦绣花园）",
        url=url,
        contacts=contacts,
    )


def render_pages(data: bytes):
    document = pdfium.PdfDocument(data)
    try:
        for page in document:
            yield page, page.render(scale=DPI / 72).to_pil()
    finally:
        document.close()


def read_qr(image) -> zxingcpp.Barcode:
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1
    return results[0]


def test_write_signs_pdf_writes_one_a4_page_per_sign(caplog):
    signs = [make_sign(index) for index in (1, 2, 3)]
    out = io.BytesIO()
    with caplog.at_level(logging.WARNING):
        assert write_signs_pdf(signs, out) == 3
        reader = pypdf.PdfReader(io.BytesIO(out.getvalue()), strict=True)
        assert len(reader.pages) == 3
        texts = [page.extract_text() for page in reader.pages]
    assert not caplog.records
    for page, text, sign in zip(reader.pages, texts, signs):
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
        assert sign.building_name in text
        for expected in ("多网融合信息公示牌", CAPTION, "西城街道 · 和平社区 · 第三网格", sign.address,
                         "王秀英", "138****5678", "房屋安全、物业管理", "李建国", "139****1234"):
            assert expected in text


def test_write_signs_pdf_qr_decodes_to_each_signs_url():
    signs = [make_sign(index) for index in (1, 2, 3)]
    out = io.BytesIO()
    write_signs_pdf(signs, out)
    decoded = [read_qr(image) for _, image in render_pages(out.getvalue())]
    assert [result.text for result in decoded] == [sign.url for sign in signs]
    assert {result.ec_level for result in decoded} == {"Q"}


def test_write_signs_pdf_qr_is_at_least_8_cm_inside_a_white_quiet_zone():
    sign = make_sign()
    out = io.BytesIO()
    write_signs_pdf([sign], out)
    (_, image), = render_pages(out.getvalue())
    position = read_qr(image).position
    side_px = position.top_right.x - position.top_left.x
    assert side_px / DPI * 2.54 >= 8.0
    assert abs(side_px / DPI * 72 - QR_SIDE) < 3
    # The 4 modules around the symbol are blank: sample a ring 2 modules out.
    module_px = side_px / len(qr_matrix(sign.url))
    grey = image.convert("L")
    left, top = position.top_left.x, position.top_left.y
    ring = 2 * module_px
    for step in range(0, int(side_px), 4):
        for x, y in ((left - ring, top + step), (left + side_px + ring, top + step),
                     (left + step, top - ring), (left + step, top + side_px + ring)):
            assert grey.getpixel((int(x), int(y))) > 200


# A short URL gives a small QR version, hence wide modules and a tall quiet zone.
@pytest.mark.parametrize("url", [building_url("https://x.cn", "a"), building_url(BASE_URL + "/a/long/path", "x" * 32)])
def test_write_signs_pdf_fits_long_text_and_many_contacts_on_one_page(url):
    crowded = make_crowded_sign(url)
    out = io.BytesIO()
    assert write_signs_pdf([crowded, make_sign()], out) == 2
    for page, image in render_pages(out.getvalue()):
        assert read_qr(image).text == crowded.url
        width, height = page.get_size()
        text_page = page.get_textpage()
        boxes = [text_page.get_charbox(index) for index in range(text_page.count_chars())]
        break
    assert len(boxes) > 300
    for left, bottom, right, top in boxes:
        # Inside the red frame drawn 20 pt from the page edges.
        assert 20 < left and right < width - 20 and 20 < bottom and top < height - 20
    text = pypdf.PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()
    assert "另有" in text and "…" in text


def test_write_signs_pdf_consumes_signs_lazily_and_reports_progress():
    pulled = 0
    reports = []

    def signs():
        nonlocal pulled
        for index in range(25):
            pulled += 1
            yield make_sign(index)

    def progress(done: int) -> None:
        reports.append(done)
        assert pulled == done

    assert write_signs_pdf(signs(), io.BytesIO(), progress=progress) == 25
    assert reports == list(range(1, 26))


def test_write_signs_pdf_memory_does_not_grow_with_the_number_of_signs():
    def peak_while_writing(count: int) -> int:
        signs = (make_sign(index) for index in range(count))
        with tempfile.TemporaryFile() as out:
            tracemalloc.start()
            try:
                assert write_signs_pdf(signs, out) == count
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    peak_while_writing(5)  # caches and imports outside the measurement
    small, large = peak_while_writing(200), peak_while_writing(2000)
    assert large < 2 * small, (small, large)


def test_write_signs_pdf_is_deterministic():
    signs = [make_sign(index, url=building_url(BASE_URL, f"code{index}")) for index in range(3)]
    first, second = io.BytesIO(), io.BytesIO()
    write_signs_pdf(signs, first, title="公示牌")
    write_signs_pdf(iter(signs), second, title="公示牌")
    assert first.getvalue() == second.getvalue()
    assert "公示牌" in pypdf.PdfReader(first).pages[0].extract_text()


def test_write_signs_pdf_refuses_an_empty_batch():
    with pytest.raises(ValueError):
        write_signs_pdf([], io.BytesIO())
