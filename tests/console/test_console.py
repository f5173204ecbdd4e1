"""The staff web console: the queue in scope, notifications, sign PDFs, the demo's picker."""
from __future__ import annotations

import pytest

from tests.console.helpers import csrf_token, pick_demo_account, sign_in_as
from tests.factories import auth_headers, make_registry, submit
from webapp.extensions import db
from webapp.notifications.outbox import drain


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _console_login(client, person):
    return sign_in_as(client, person)


def test_console_requires_login(client, registry):
    response = client.get("/console/")
    assert response.status_code == 302
    assert "/console/login" in response.headers["Location"]


def test_grid_worker_sees_own_queue_not_other_grid(client, registry):
    resident = auth_headers(client, openid="console-resident")
    mine = submit(client, resident, registry.codes[registry.buildings[0].id]).get_json()
    other = submit(client, resident, registry.codes[registry.buildings[-1].id]).get_json()
    assert _console_login(client, registry.workers[0]).status_code == 303
    page = client.get("/console/").get_data(as_text=True)
    assert mine["number"] in page
    assert other["number"] not in page
    detail = client.get(f"/console/tickets/{mine['id']}").get_data(as_text=True)
    assert "提交" in detail and "楼道" in detail
    assert client.get(f"/console/tickets/{other['id']}").status_code == 404
    assert client.get("/console/notifications").status_code == 403


def test_resident_cannot_pick_a_demo_account_into_console(client, registry):
    auth_headers(client, openid="plain-resident")
    response = client.post(
        "/console/login/demo", data={"openid": "plain-resident", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 403
    assert "不是工作人员" in response.get_data(as_text=True)


def test_demo_picker_signs_staff_in(client, registry):
    assert pick_demo_account(client, registry.workers[0]).status_code == 303
    page = client.get("/console/").get_data(as_text=True)
    assert "我范围内的工单" in page and "张丽" in page


def test_notifications_page_shows_demo_deliveries(client, registry):
    resident = auth_headers(client, openid="console-resident-2")
    submit(client, resident, registry.codes[registry.buildings[0].id])
    counts = drain(50)
    db.session.commit()
    assert counts["sent"] >= 1
    _console_login(client, registry.community_staff)
    page = client.get("/console/notifications").get_data(as_text=True)
    assert "新工单派达" in page and "张丽" in page and "log" in page


def test_community_staff_downloads_sign_pdf(client, registry):
    _console_login(client, registry.community_staff)
    response = client.get("/console/signs.pdf?community=FL-01")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert client.get("/console/signs.pdf?community=NOPE").status_code == 404


def test_login_page_without_dev_login_has_only_the_password_form(app, client, registry, monkeypatch):
    registry.workers[0].openid = "o-w1"
    db.session.commit()
    monkeypatch.setitem(app.config, "DEV_LOGIN", False)
    page = client.get("/console/login").get_data(as_text=True)
    assert 'name="password"' in page and "用户名" in page
    assert "演示模式" not in page and "o-w1" not in page
    response = client.post("/console/login/demo", data={"openid": "o-w1", "csrf_token": csrf_token(client)})
    assert response.status_code == 404


def test_home_lists_demo_buildings_and_serves_their_qr(client, registry):
    import io

    import zxingcpp
    from PIL import Image

    page = client.get("/").get_data(as_text=True)
    code = registry.codes[registry.buildings[0].id]
    assert f"/b/{code}" in page
    png = client.get(f"/b/{code}/qr.png")
    assert png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))[0].text
    assert decoded == f"https://grid.example.cn/b/{code}"
    assert client.get("/b/unknownCode/qr.png").status_code == 404


def test_console_queue_rejects_a_bad_cursor(client, registry):
    _console_login(client, registry.community_staff)
    assert client.get("/console/?cursor=garbage!!").status_code == 400


def test_demo_login_page_names_roles_in_chinese(client, registry):
    for person, openid in ((registry.workers[0], "o-w1"), (registry.professional, "o-pro"), (registry.community_staff, "o-cs")):
        person.openid = openid
    db.session.commit()
    page = client.get("/console/login").get_data(as_text=True)
    assert "网格员" in page and "专业网格员" in page and "社区工作人员" in page
    assert "grid_worker" not in page and "community_staff" not in page
