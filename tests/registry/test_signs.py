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
    assert "1区1号楼" in first_text and "张丽" in first_text and "138****5678" in first_text
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
