"""/console/wishes over HTTP: an inbox for wish readers only; anonymous wishes show no identity."""
from __future__ import annotations

import pytest

from tests.console.helpers import sign_in_as
from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.extensions import db
from webapp.people.models import Role, StaffAssignment


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def reader(registry):
    person = make_person("孙芳", code="P-SF")
    db.session.add(StaffAssignment(person=person, role=Role.WISH_READER, community=registry.community))
    db.session.commit()
    return person


@pytest.fixture
def wishes(client, registry, reader):
    code = registry.codes[registry.buildings[0].id]
    author = make_person("钱多多", "13911112222", openid="wish-author")
    db.session.commit()
    headers = auth_headers(client, author)
    anonymous = submit(client, headers, code, kind="wish", category="wish",
                       description="希望小区能加装一个晾衣架，匿名说", anonymous=True).get_json()
    named = submit(client, headers, code, kind="wish", category="wish",
                   description="希望周末能组织一次义诊", contact_phone="13911112222").get_json()
    report = submit(client, headers, code).get_json()
    return anonymous, named, report


def test_the_wish_reader_sees_wishes_only_and_anonymous_ones_without_identity(client, registry, reader, wishes):
    anonymous, named, report = wishes
    sign_in_as(client, reader)
    page = client.get("/console/wishes").get_data(as_text=True)
    assert "心语心愿信箱" in page
    assert anonymous["number"] in page and named["number"] in page and report["number"] not in page
    assert f'href="/console/tickets/{anonymous["id"]}"' in page
    anonymous_row = page.split(f'id="wish-{anonymous["number"]}"')[1].split("</tr>")[0]
    assert "匿名" in anonymous_row and "钱多多" not in anonymous_row and "13911112222" not in anonymous_row
    named_row = page.split(f'id="wish-{named["number"]}"')[1].split("</tr>")[0]
    assert "钱多多" in named_row and "13911112222" not in named_row
    assert "希望小区能加装一个晾衣架" in anonymous_row and "已派单" in anonymous_row


@pytest.mark.parametrize("who", ["grid_worker", "community_staff", "professional"])
def test_everyone_but_wish_readers_and_admins_gets_403_and_no_wish_box(client, registry, wishes, who):
    person = {"grid_worker": registry.workers[0], "community_staff": registry.community_staff,
              "professional": registry.professional}[who]
    sign_in_as(client, person)
    response = client.get("/console/wishes")
    assert response.status_code == 403
    assert wishes[0]["number"] not in response.get_data(as_text=True)
    assert "心语心愿" not in client.get("/console/").get_data(as_text=True).split("</nav>")[0]


def test_an_admin_who_reads_no_wishes_sees_counts_only(client, registry, wishes):
    admin = make_person("管理员", code="P-ADM")
    db.session.add(StaffAssignment(person=admin, role=Role.ADMIN))
    db.session.commit()
    sign_in_as(client, admin)
    page = client.get("/console/wishes").get_data(as_text=True)
    assert "幸福社区" in page and "<strong>2</strong>" in page
    assert wishes[0]["number"] not in page and "晾衣架" not in page and "义诊" not in page


def test_bad_status_filter_is_400(client, registry, reader, wishes):
    sign_in_as(client, reader)
    assert client.get("/console/wishes?status=nope").status_code == 400
    closed = client.get("/console/wishes?status=closed").get_data(as_text=True)
    assert "暂无心语心愿" in closed
