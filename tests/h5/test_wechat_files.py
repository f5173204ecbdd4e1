"""WeChat's verification files: served from WECHAT_VERIFY_DIR ahead of the building page."""
from __future__ import annotations

import pytest

from tests.factories import make_registry
from webapp.extensions import db
from webapp.registry.codes import issue_code


@pytest.fixture
def verify_dir(app, tmp_path, monkeypatch):
    (tmp_path / "abc.txt").write_text("d41d8cd98f00b204e980", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not served", encoding="utf-8")
    monkeypatch.setitem(app.config, "WECHAT_VERIFY_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("path", ["/b/abc.txt", "/abc.txt"])
def test_a_verification_file_is_served_as_plain_text(client, verify_dir, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == "d41d8cd98f00b204e980"


@pytest.mark.parametrize(
    "path", ["/missing.txt", "/notes.md", "/..%2Fabc.txt", "/a.b.txt", "/%2e%2e.txt"]
)
def test_nothing_else_of_the_folder_or_beside_it_is_served(client, verify_dir, path):
    assert client.get(path).status_code == 404


def test_without_the_setting_nothing_is_served(client, app, monkeypatch, tmp_path):
    (tmp_path / "abc.txt").write_text("x", encoding="utf-8")
    monkeypatch.setitem(app.config, "WECHAT_VERIFY_DIR", "")
    assert client.get("/abc.txt").status_code == 404
    assert client.get("/b/abc.txt").status_code == 404  # the building page: no such code
    (tmp_path / "abc.txt").unlink()


def test_a_building_code_still_opens_its_page(app_ctx, client, verify_dir):
    registry = make_registry()
    code = registry.codes[registry.buildings[0].id]
    page = client.get(f"/b/{code}")
    assert page.status_code == 200 and "1区1号楼" in page.get_data(as_text=True)


def test_a_code_ending_in_txt_without_such_a_file_is_the_building_page(app_ctx, client, verify_dir):
    registry = make_registry()
    building = registry.buildings[1]
    record = issue_code(building.id)
    record.code = "Zq9.txt"
    db.session.commit()
    code = record.code
    page = client.get(f"/b/{code}")
    assert page.status_code == 200 and building.name in page.get_data(as_text=True)
