"""The scan of a building's printed code, as the mini-program and a phone browser see it."""
from __future__ import annotations

import pytest

from tests.factories import make_registry
from webapp.extensions import db
from webapp.registry.codes import issue_code, revoke_code
from webapp.registry.models import TicketKind
from webapp.tickets.models import Ticket, TicketStatus


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _make_ticket(registry, building, category, kind=TicketKind.REPORT, status=TicketStatus.DISPATCHED, **kw):
    ticket = Ticket(
        number=kw.pop("number", f"JY-20261122-{len(building.name):04d}{kind.value[:1]}{status.value[:2]}"),
        kind=kind,
        status=status,
        category_id=category.id,
        building_id=building.id,
        grid_id=building.grid_id,
        community_id=registry.community.id,
        street_id=registry.street.id,
        description=kw.pop("description", "楼道灯坏了，晚上很黑，老人上下楼不安全"),
        **kw,
    )
    db.session.add(ticket)
    db.session.commit()
    return ticket


def test_scan_shows_building_contacts_and_categories(client, registry):
    building = registry.buildings[0]
    response = client.get(f"/api/v1/scan/{registry.codes[building.id]}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["building"] == {
        "id": building.id,
        "name": "1区1号楼",
        "address": "凤凰路101号",
        "community": "幸福社区",
        "grid": "第1网格",
    }
    assert body["units"] == ["1单元", "2单元"]
    assert body["contacts"][0] == {
        "role": "网格员", "name": "张丽", "phone_masked": "138****5678", "categories": []
    }
    assert body["contacts"][1]["name"] == "李建国"
    assert body["contacts"][1]["categories"] == ["电梯故障"]
    kinds = {c["code"]: c["kind"] for c in body["categories"]}
    assert kinds == {"light": "report", "fire_lane": "report", "elevator": "report", "wish": "wish"}
    assert body["open_tickets"] == []


def test_scan_lists_open_reports_but_never_wishes_or_reporters(client, registry):
    building = registry.buildings[0]
    report = _make_ticket(registry, building, registry.categories["light"], me_too_count=3)
    _make_ticket(registry, building, registry.categories["wish"], kind=TicketKind.WISH)
    _make_ticket(registry, building, registry.categories["fire_lane"], status=TicketStatus.CLOSED)
    body = client.get(f"/api/v1/scan/{registry.codes[building.id]}").get_json()
    assert [t["id"] for t in body["open_tickets"]] == [report.id]
    shown = body["open_tickets"][0]
    assert set(shown) == {"id", "number", "category", "summary", "status", "created_at", "me_too_count"}
    assert shown["category"] == "楼道照明"
    assert shown["me_too_count"] == 3
    assert shown["created_at"].endswith("+08:00")


def test_scan_body_is_what_its_schema_would_write(app, client, registry):
    """The view skips marshmallow (miniprogram_api/scan.py): its body is byte for byte
    ScanSchema's dump of the same scan, timestamps with and without microseconds included."""
    from datetime import datetime, timezone

    from miniprogram_api.scan import ScanSchema
    from webapp.registry import scan as places

    building = registry.buildings[0]
    for n, micro in enumerate((123456, 0, 120000)):
        _make_ticket(
            registry, building, registry.categories["light"], me_too_count=n, number=f"JY-20261122-{n:04d}",
            description=f"第{n}盏灯不亮", created_at=datetime(2026, 11, 22, 8, n, 5, micro, tzinfo=timezone.utc),
        )
    code = registry.codes[building.id]
    response = client.get(f"/api/v1/scan/{code}")
    expected = ScanSchema().dump(places.scan(code))
    assert len(expected["open_tickets"]) == 3
    assert response.get_data() == app.json.response(expected).get_data()


@pytest.mark.parametrize("code", ["unknownCode123", "中文", "x" * 33, "a%20b"])
def test_scan_unknown_or_malformed_code_is_404(client, registry, code):
    response = client.get(f"/api/v1/scan/{code}")
    assert response.status_code == 404
    body = response.get_json()
    assert body["code"] == "code_not_found"
    assert body["message"]
    assert body["errors"] == {}


def test_scan_revoked_code_is_410_and_replacement_works(client, registry):
    building = registry.buildings[1]
    old = registry.codes[building.id]
    new = issue_code(building.id).code
    db.session.commit()
    assert client.get(f"/api/v1/scan/{old}").status_code == 410
    assert client.get(f"/api/v1/scan/{old}").get_json()["code"] == "code_revoked"
    assert client.get(f"/api/v1/scan/{new}").get_json()["building"]["id"] == building.id
    other = registry.buildings[0]
    assert client.get(f"/api/v1/scan/{registry.codes[other.id]}").status_code == 200


def test_revoke_without_replacement_leaves_building_without_active_code(client, registry):
    building = registry.buildings[0]
    revoke_code(building.id)
    db.session.commit()
    assert client.get(f"/api/v1/scan/{registry.codes[building.id]}").status_code == 410


def test_building_page_renders_in_chinese(client, registry):
    building = registry.buildings[0]
    _make_ticket(registry, building, registry.categories["light"])
    response = client.get(f"/b/{registry.codes[building.id]}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1区1号楼" in html and "张丽" in html and "138****5678" in html
    assert "楼道照明" in html and "已派单" in html
    assert 'name="viewport"' in html


def test_building_page_for_revoked_code_says_so(client, registry):
    building = registry.buildings[0]
    revoke_code(building.id)
    db.session.commit()
    response = client.get(f"/b/{registry.codes[building.id]}")
    assert response.status_code == 410
    assert "已停用" in response.get_data(as_text=True)


def test_printed_qr_decodes_to_url_that_scans_and_replacement_revokes(client, runner, registry, tmp_path):
    """Export the QR images, read one back with a real decoder, scan it, replace it."""
    import zxingcpp
    from PIL import Image

    from qr.urls import code_from_url

    building = registry.buildings[2]
    result = runner.invoke(args=["codes", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    decoded = zxingcpp.read_barcodes(Image.open(tmp_path / f"{building.code}.png"))
    url = decoded[0].text
    assert url.startswith("https://grid.example.cn/b/")
    old_code = code_from_url(url)
    assert client.get(f"/api/v1/scan/{old_code}").get_json()["building"]["name"] == building.name

    result = runner.invoke(args=["codes", "replace", building.code])
    assert result.exit_code == 0, result.output
    new_code = code_from_url(result.output.strip())
    assert client.get(f"/api/v1/scan/{old_code}").status_code == 410
    assert client.get(f"/api/v1/scan/{new_code}").get_json()["building"]["id"] == building.id
