"""The sign PDF of a street: one sign per building, Chinese text, QR codes that decode."""
from __future__ import annotations

import io

import pypdf
import pypdfium2
import pytest
import zxingcpp

from tests.factories import make_registry
from webapp.extensions import db
from webapp.registry.codes import revoke_code
from webapp.registry.signs import write_signs


@pytest.fixture
def registry(app_ctx):
    return make_registry(buildings_per_grid=3)


def test_signs_one_page_per_building_with_chinese_and_decodable_qr(app, registry):
    out = io.BytesIO()
    pages = write_signs(out, street_code="FL")
    assert pages == len(registry.buildings) == 6
    reader = pypdf.PdfReader(io.BytesIO(out.getvalue()))
    assert len(reader.pages) == 6
    first_text = reader.pages[0].extract_text()
    assert "1区1号楼" in first_text and "张丽" in first_text
    assert "138****5678" not in first_text and "13812345678" not in first_text  # never the private mobile
    assert "政务服务便民热线 12345" in first_text
    assert "电梯故障" in first_text  # the professional's category
    pdf = pypdfium2.PdfDocument(out.getvalue())
    urls = []
    for index in range(len(pdf)):
        image = pdf[index].render(scale=150 / 72).to_pil()
        urls.append(zxingcpp.read_barcodes(image)[0].text)
    expected = [f"https://grid.example.cn/b/{registry.codes[b.id]}" for b in registry.buildings]
    assert urls == expected


def test_signs_skip_buildings_without_active_code(app, registry):
    revoke_code(registry.buildings[0].id)
    db.session.commit()
    assert write_signs(io.BytesIO(), community_code="FL-01") == 5


def test_signs_cli_writes_pdf_with_progress(runner, registry, tmp_path):
    target = tmp_path / "signs.pdf"
    result = runner.invoke(args=["signs", "print", "--street", "FL", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "已生成 6 张公示牌" in result.output
    assert len(pypdf.PdfReader(target).pages) == 6


def test_signs_cli_unknown_street_fails_cleanly(runner, registry, tmp_path):
    result = runner.invoke(args=["signs", "print", "--street", "NOPE", "-o", str(tmp_path / "x.pdf")])
    assert result.exit_code != 0
    assert "未找到街道编码 NOPE" in result.output
    assert not (tmp_path / "x.pdf").exists()


def _first_page_text(**scope) -> str:
    out = io.BytesIO()
    write_signs(out, **scope)
    return pypdf.PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()


def test_signs_print_published_work_phones_else_the_community_office(app, registry):
    registry.community.office_phone = "0530-8211001"
    zhang = registry.workers[0]
    zhang.work_phone, zhang.publish_phone = "15305300011", True
    registry.professional.work_phone, registry.professional.publish_phone = "0530-8233021", False
    db.session.commit()

    text = _first_page_text(community_code="FL-01")

    assert "网格员  张丽  15305300011" in text  # the published work phone, in full
    assert "电梯故障 专业网格员 李建国 0530-8211001" in text  # not published: the office's number
    assert "0530-8233021" not in text
    assert "社区办公电话 0530-8211001" in text and "政务服务便民热线 12345" in text
    assert "13812345678" not in text and "13700001111" not in text  # private mobiles never


def test_signs_url_line_is_one_run_of_helvetica_text(app, registry):
    """The URL is set in a standard font whose metrics every reader shares (no stray gaps)."""
    out = io.BytesIO()
    write_signs(out, community_code="FL-01")
    reader = pypdf.PdfReader(io.BytesIO(out.getvalue()))
    page = reader.pages[0]
    fonts = {str(font["/BaseFont"]) for font in page["/Resources"]["/Font"].values()}
    assert "/Helvetica" in fonts
    url = f"https://grid.example.cn/b/{registry.codes[registry.buildings[0].id]}"
    assert url in page.extract_text().splitlines()


def test_print_community_signs_is_scoped_and_audited(app, registry):
    from webapp.audit.trail import entries
    from webapp.errors import NotFound
    from webapp.people.actors import load_actor
    from webapp.registry.signs import print_community_signs

    staff = load_actor(registry.community_staff.id)
    assert print_community_signs(staff, "FL-01", io.BytesIO(), address="10.0.0.1") == 6
    [entry] = entries(action="signs_printed")
    assert entry.actor_id == registry.community_staff.id and entry.detail["pages"] == 6
    with pytest.raises(NotFound):
        print_community_signs(load_actor(registry.workers[0].id), "FL-01", io.BytesIO())
