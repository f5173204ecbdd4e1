"""The one-table import in the console: the preview shows every change and every bad row and
writes nothing; the apply writes exactly what was previewed, or nothing."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from sqlalchemy import func, select

from tests.console.helpers import csrf_token, sign_in_as
from tests.factories import make_person
from tests.registry.test_importer import sheets_file
from webapp.audit.models import AuditEntry
from webapp.demo import SAMPLE_CSV_DIR, SAMPLE_XLSX
from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.importer import import_registry_file
from webapp.registry.models import Building, Community, Street


@pytest.fixture
def admin(app_ctx, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_UPLOAD_DIR", str(tmp_path / "imports"))
    person = make_person("管理员", "13900000099", code="ADMIN")
    db.session.add(StaffAssignment(person=person, role=Role.ADMIN))
    db.session.commit()
    return person


def _upload(client, data: bytes, name: str = "一张表.xlsx"):
    token = csrf_token(client, "/console/imports")
    return client.post("/console/imports", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _apply_form(page: str) -> dict:
    return {
        "token": re.search(r'name="token" value="([^"]+)"', page).group(1),
        "sha256": re.search(r'name="sha256" value="([0-9a-f]{64})"', page).group(1),
    }


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_imports_are_for_admins_only(client, admin):
    staff = make_person("赵敏", "13600002222", code="P003")
    street = Street(code="FH", name="凤凰街道", ticket_prefix="JY")
    community = Community(code="FH-01", name="幸福社区", street=street)
    db.session.add_all([street, community])
    db.session.add(StaffAssignment(person=staff, role=Role.COMMUNITY_STAFF, community=community))
    db.session.commit()
    sign_in_as(client, staff)
    assert client.get("/console/imports").status_code == 403
    response = client.post("/console/imports", data={"csrf_token": csrf_token(client, "/console/"),
                                                     "file": (io.BytesIO(SAMPLE_XLSX.read_bytes()), "x.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 403 and _count(Building) == 0


def test_preview_shows_what_would_change_and_writes_nothing(client, admin):
    sign_in_as(client, admin)
    response = _upload(client, SAMPLE_XLSX.read_bytes())
    page = response.get_data(as_text=True)

    assert response.status_code == 200 and "校验通过" in page
    assert "<td>楼栋</td><td>30</td><td>0</td><td>0</td>" in page
    assert "FH-01-G1-B01" in page  # the codes a sheet would add
    assert _count(Street) == 0 and _count(Building) == 0
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "import_previewed")).one()
    assert entry.actor_id == admin.id and entry.detail["counts"]["楼栋"]["created"] == 30


def test_preview_lists_every_bad_row_with_its_reason(client, admin, tmp_path):
    def spoil(sheets):
        sheets["网格"][1][4] = ("FH-02-G2", "阳光花园网格", "FH-09", "P014", "P014")
        buildings = sheets["楼栋"][1]
        buildings[1] = (buildings[0][0], "", buildings[1][2], buildings[1][3], "1单元")

    sign_in_as(client, admin)
    page = _upload(client, sheets_file(tmp_path, spoil).read_bytes()).get_data(as_text=True)

    assert "不能导入" in page and 'id="import-apply"' not in page
    bad = re.findall(r"<li><span class=\"tag\">(.*?)</span>(第\d+行：.*?)</li>", page)
    assert ("网格", "第6行：社区编码 FH-09 不存在") in bad
    assert ("网格", "第6行：代班人不能与网格员是同一人") in bad
    assert ("楼栋", "第3行：名称不能为空") in bad
    assert ("楼栋", "第3行：编码 FH-01-G1-B01 与第2行重复") in bad
    assert _count(Community) == 0


def test_apply_writes_exactly_the_preview(client, admin):
    sign_in_as(client, admin)
    page = _upload(client, SAMPLE_XLSX.read_bytes()).get_data(as_text=True)
    form = _apply_form(page)

    response = client.post("/console/imports/apply", data={**form, "csrf_token": csrf_token(client, "/console/imports")})

    assert response.status_code == 200 and "导入完成" in response.get_data(as_text=True)
    assert _count(Building) == 30 and _count(Street) == 1
    applied = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "import_applied")).one()
    assert applied.detail["sha256"] == form["sha256"] and applied.detail["counts"]["楼栋"]["created"] == 30
    again = client.post("/console/imports/apply", data={**form, "csrf_token": csrf_token(client, "/console/imports")})
    assert again.status_code == 404  # a preview is applied once


def test_apply_refuses_a_digest_other_than_the_previewed_file(client, admin):
    sign_in_as(client, admin)
    form = _apply_form(_upload(client, SAMPLE_XLSX.read_bytes()).get_data(as_text=True))
    response = client.post("/console/imports/apply",
                           data={**form, "sha256": "0" * 64, "csrf_token": csrf_token(client, "/console/imports")})
    assert response.status_code == 409 and "与预览时不一致" in response.get_data(as_text=True)
    assert _count(Building) == 0


def test_apply_refuses_when_the_database_moved_on_since_the_preview(client, admin):
    sign_in_as(client, admin)
    form = _apply_form(_upload(client, SAMPLE_XLSX.read_bytes()).get_data(as_text=True))
    import_registry_file(SAMPLE_CSV_DIR)  # someone else imported meanwhile
    db.session.commit()
    before = _count(Person)
    response = client.post("/console/imports/apply", data={**form, "csrf_token": csrf_token(client, "/console/imports")})
    assert response.status_code == 409 and "预览之后数据已有变化" in response.get_data(as_text=True)
    assert _count(Person) == before
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "import_applied")) == 0


def test_a_zip_of_csv_files_is_accepted(client, admin, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in SAMPLE_CSV_DIR.glob("*.csv"):
            archive.write(path, f"一张表/{path.name}")
    sign_in_as(client, admin)
    page = _upload(client, buffer.getvalue(), "一张表.zip").get_data(as_text=True)
    assert "校验通过" in page and "<td>楼栋</td><td>30</td>" in page


def test_other_files_are_refused(client, admin):
    sign_in_as(client, admin)
    response = _upload(client, b"hello", "notes.txt")
    assert response.status_code == 422 and "请上传 XLSX 文件" in response.get_data(as_text=True)
    broken = _upload(client, b"not a workbook", "broken.xlsx")
    assert broken.status_code == 422 and "不是有效的 xlsx 文件" in broken.get_data(as_text=True)
