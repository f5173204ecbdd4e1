"""Signs and codes in the console: a community's PDF at once, a street's as a background job
with progress, revoking and reissuing one building's code after a confirm step."""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import select

from tests.console.helpers import csrf_token, sign_in_as
from tests.factories import make_person, make_registry
from webapp.audit.models import AuditEntry
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment
from webapp.registry.codes import active_code
from webapp.registry.models import SignJob


@pytest.fixture
def registry(app_ctx, app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_JOB_DIR", str(tmp_path / "sign_jobs"))
    monkeypatch.setitem(app.config, "REDIS_URL", "")  # the in-process thread
    return make_registry()


@pytest.fixture
def street_staff(registry):
    person = make_person("陈志强", "13900000002", code="P-CZQ")
    db.session.add(StaffAssignment(person=person, role=Role.STREET_STAFF, street=registry.street))
    db.session.commit()
    return person


def _wait_done(client, job_url: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(job_url + "/status").get_json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError("the sign job did not finish")


def test_street_staff_print_a_street_in_the_background_and_download_it(client, street_staff, registry):
    sign_in_as(client, street_staff)
    page = client.get("/console/signs").get_data(as_text=True)
    assert "生成整个街道的公示牌" in page and "幸福社区" in page

    response = client.post("/console/signs/jobs", data={"street": "FL", "csrf_token": csrf_token(client, "/console/signs")})
    assert response.status_code == 303
    job_url = response.headers["Location"]
    job_page = client.get(job_url).get_data(as_text=True)
    assert "console-signs.js" in job_page and 'id="sign-job-progress"' in job_page and "<script>" not in job_page

    state = _wait_done(client, job_url)
    assert (state["status"], state["done"], state["total"], state["status_label"]) == ("done", 4, 4, "已完成")
    pdf = client.get(state["download_url"])
    assert pdf.mimetype == "application/pdf"
    assert len(pypdf.PdfReader(io.BytesIO(pdf.data)).pages) == 4
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "signs_printed")).one()
    assert entry.actor_id == street_staff.id and entry.detail == {"scope": "street", "code": "FL", "pages": 4}


def test_community_staff_cannot_print_or_see_a_street_job(client, street_staff, registry):
    sign_in_as(client, street_staff)
    response = client.post("/console/signs/jobs", data={"street": "FL", "csrf_token": csrf_token(client, "/console/signs")})
    job_url = response.headers["Location"]
    _wait_done(client, job_url)
    client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})

    sign_in_as(client, registry.community_staff)
    assert "生成整个街道的公示牌" not in client.get("/console/signs").get_data(as_text=True)
    refused = client.post("/console/signs/jobs", data={"street": "FL", "csrf_token": csrf_token(client, "/console/signs")})
    assert refused.status_code == 403
    assert client.get(job_url).status_code == 404
    assert client.get(job_url + "/download").status_code == 404


def test_grid_worker_has_no_sign_pages(client, registry):
    sign_in_as(client, registry.workers[0])
    assert client.get("/console/signs").status_code == 403
    assert client.get("/console/signs/codes?community=FL-01").status_code == 403
    assert client.get("/console/signs.pdf?community=FL-01").status_code == 404


def test_reissue_a_code_after_confirming(client, registry):
    building = registry.buildings[0]
    old = registry.codes[building.id]
    sign_in_as(client, registry.community_staff)
    listing = client.get("/console/signs/codes?community=FL-01").get_data(as_text=True)
    assert old in listing and "重新签发" in listing

    confirm = client.get(f"/console/signs/buildings/{building.id}/code?action=reissue")
    assert confirm.status_code == 200 and "确认重新签发二维码" in confirm.get_data(as_text=True)
    assert active_code(building.id).code == old  # the confirm page changes nothing

    token = csrf_token(client, f"/console/signs/buildings/{building.id}/code?action=reissue")
    done = client.post(f"/console/signs/buildings/{building.id}/code", data={"action": "reissue", "csrf_token": token})
    assert done.status_code == 303
    new = active_code(building.id).code
    assert new != old and new in client.get(done.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/b/{old}").status_code == 410
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "code_reissued")).one()
    assert (entry.actor_id, entry.target_type, entry.target_id) == (registry.community_staff.id, "building", str(building.id))
    assert entry.detail["old"] == old and entry.detail["new"] == new


def test_revoke_a_code(client, registry):
    building = registry.buildings[1]
    sign_in_as(client, registry.community_staff)
    token = csrf_token(client, f"/console/signs/buildings/{building.id}/code?action=revoke")
    client.post(f"/console/signs/buildings/{building.id}/code", data={"action": "revoke", "csrf_token": token})
    assert active_code(building.id) is None
    assert "无在用二维码" in client.get("/console/signs/codes?community=FL-01").get_data(as_text=True)
    again = client.post(f"/console/signs/buildings/{building.id}/code", data={"action": "revoke", "csrf_token": token})
    assert again.status_code == 409 and "没有在用的二维码" in again.get_data(as_text=True)


def test_codes_of_another_community_are_out_of_scope(client, registry):
    from webapp.registry.models import Building, Community, Grid, Street

    other_street = Street(code="HP", name="和平街道", ticket_prefix="HP")
    other = Community(code="HP-01", name="和平社区", street=other_street)
    grid = Grid(code="HP-01-G1", name="和平网格", community=other)
    building = Building(code="HP-B1", name="和平1号楼", address="和平路1号", grid=grid)
    db.session.add_all([other_street, other, grid, building])
    db.session.commit()
    sign_in_as(client, registry.community_staff)
    assert client.get("/console/signs/codes?community=HP-01").status_code == 404
    assert client.get(f"/console/signs/buildings/{building.id}/code?action=reissue").status_code == 404
    token = csrf_token(client, "/console/signs")
    response = client.post(f"/console/signs/buildings/{building.id}/code", data={"action": "reissue", "csrf_token": token})
    assert response.status_code == 404
    assert active_code(building.id) is None


def test_a_failed_job_shows_its_reason(client, street_staff, registry, app, monkeypatch):
    from webapp.registry import signs

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(signs, "write_signs", broken)
    sign_in_as(client, street_staff)
    response = client.post("/console/signs/jobs", data={"street": "FL", "csrf_token": csrf_token(client, "/console/signs")})
    state = _wait_done(client, response.headers["Location"])
    assert state["status"] == "failed" and state["error"] == "生成失败，请稍后重试" and not state["download_url"]
    assert not list(Path(app.config["SIGN_JOB_DIR"]).glob("*.part"))
    assert re.match(r"^[A-Za-z0-9_-]+$", db.session.scalars(select(SignJob.id)).one())
