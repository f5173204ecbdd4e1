"""The console's work pages over HTTP: the queue's filters, counts, order and time left; a
ticket's buttons (exactly what the state machine allows), its actions (the same result as the
API's), phones, notifications and scope."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.console.helpers import csrf_token, sign_in_as
from tests.factories import (
    auth_headers,
    jpeg_bytes,
    make_person,
    make_registry,
    submit,
    upload_photo,
)
from webapp.audit.models import AuditEntry
from webapp.columns import utcnow
from webapp.errors import Forbidden, InvalidTransition, NotFound
from webapp.extensions import db
from webapp.notifications.outbox import drain
from webapp.people.actors import load_actor
from webapp.people.models import Role, StaffAssignment
from webapp.registry.codes import issue_code
from webapp.registry.models import Building, Community, Grid, ReplyTemplate
from webapp.tickets import actions
from webapp.tickets.deadlines import time_left_words
from webapp.tickets.models import Ticket, TicketStatus
from webapp.tickets.state_machine import STAFF_ACTIONS, ActionInput, transition


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def resident(client, registry):
    return auth_headers(client, openid="work-resident")


def _ticket(client, headers, registry, building=0, **fields) -> dict:
    response = submit(client, headers, registry.codes[registry.buildings[building].id], **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _numbers(page: str) -> list[str]:
    return re.findall(r'class="number">([A-Z]+-\d{8}-\d{4})<', page)


def _buttons(page: str) -> set[str]:
    return set(re.findall(r'id="form-(\w+)"', page))


def _switch(client, person):
    """Sign out whoever is signed in, and sign in as this person."""
    if client.get("/console/").status_code == 200:
        client.post("/console/logout", data={"csrf_token": csrf_token(client, "/console/")})
    return sign_in_as(client, person)


def _set(ticket_id: str, **values) -> None:
    ticket = db.session.get(Ticket, ticket_id)
    for key, value in values.items():
        setattr(ticket, key, value)
    db.session.commit()


# --- the queue ---------------------------------------------------------------------------


def test_time_left_in_words():
    now = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
    assert time_left_words(now + timedelta(hours=3, minutes=20), now) == "还剩3小时"
    assert time_left_words(now + timedelta(days=2, hours=5), now) == "还剩2天"
    assert time_left_words(now + timedelta(minutes=25), now) == "还剩25分钟"
    assert time_left_words(now - timedelta(hours=5, minutes=1), now) == "已超期5小时"
    assert time_left_words(now - timedelta(days=2, hours=1), now) == "已超期2天"
    assert time_left_words(None, now) == ""


def test_queue_filters_counts_order_and_time_left(client, registry, resident):
    light = _ticket(client, resident, registry, description="3单元楼道灯坏了一周，晚上很黑")
    fire = _ticket(client, resident, registry, category="fire_lane", description="消防通道被电动车堵住了")
    rider = _ticket(client, resident, registry, description="地下车库入口的灯不亮了")
    other_grid = _ticket(client, resident, registry, building=2, description="二网格的楼道灯坏了")
    wish = _ticket(client, resident, registry, kind="wish", category="wish", description="希望小区增加健身器材")
    _set(rider["id"], is_rider_report=True)
    # The oldest ticket is overdue: it comes first; its deadline passed two days ago.
    _set(light["id"], is_overdue=True, accept_due_at=utcnow() - timedelta(days=2, hours=1))
    sign_in_as(client, registry.community_staff)

    page = _page(client, "/console/")
    numbers = _numbers(page)
    assert numbers[0] == light["number"]  # overdue first
    assert numbers[1:] == [other_grid["number"], rider["number"], fire["number"]]  # then newest
    assert wish["number"] not in page  # community staff are not wish readers
    assert "已超期2天" in page and "还剩" in page
    assert "grid_worker" not in page and "dispatched" not in page.split("<tbody>")[1]
    # Counts per status in the scope (4 reports, all dispatched).
    assert re.search(r'data-status="dispatched"[^>]*>已派单 <b>4</b>', page)
    assert re.search(r'data-status="closed"[^>]*>已办结 <b>0</b>', page)

    assert _numbers(_page(client, "/console/?q=" + light["number"][-4:])) == [light["number"]]
    assert _numbers(_page(client, "/console/?q=" + light["number"].lower())) == [light["number"]]
    assert _numbers(_page(client, "/console/?q=消防通道")) == [fire["number"]]
    assert _numbers(_page(client, "/console/?q=%25")) == []  # % is a character, not a wildcard
    assert _numbers(_page(client, "/console/?category=fire_lane")) == [fire["number"]]
    assert _numbers(_page(client, f"/console/?grid={registry.grids[1].id}")) == [other_grid["number"]]
    assert _numbers(_page(client, "/console/?reporter=rider")) == [rider["number"]]
    assert rider["number"] not in _numbers(_page(client, "/console/?reporter=resident"))
    assert _numbers(_page(client, "/console/?overdue=1")) == [light["number"]]
    assert light["number"] not in _numbers(_page(client, "/console/?overdue=0"))
    assert _numbers(_page(client, "/console/?kind=wish")) == []
    assert _numbers(_page(client, "/console/?status=closed")) == []
    assert client.get("/console/?status=nope").status_code == 400
    assert client.get("/console/?reporter=robot").status_code == 400

    # "我的": what the caller holds; community staff hold none of these.
    assert _numbers(_page(client, "/console/?tab=mine")) == []
    _switch(client, registry.workers[0])
    mine = _numbers(_page(client, "/console/?tab=mine"))
    assert set(mine) == {light["number"], fire["number"], rider["number"]}
    assert other_grid["number"] not in _numbers(_page(client, "/console/"))


def test_queue_pages_by_cursor_overdue_first(app, client, registry, resident):
    from webapp.console import work

    made = [_ticket(client, resident, registry, description=f"楼道灯坏了第{n}盏，晚上很黑") for n in range(7)]
    _set(made[1]["id"], is_overdue=True)
    _set(made[4]["id"], is_overdue=True)
    sign_in_as(client, registry.community_staff)
    original = work.QUEUE_PAGE
    work.QUEUE_PAGE = 3
    try:
        seen, path = [], "/console/"
        while path:
            page = _page(client, path)
            seen += _numbers(page)
            found = re.search(r'id="next-page" href="([^"]+)"', page)
            path = found.group(1).replace("&amp;", "&") if found else None
    finally:
        work.QUEUE_PAGE = original
    newest = [t["number"] for t in reversed(made)]
    overdue = [made[4]["number"], made[1]["number"]]
    assert seen == overdue + [n for n in newest if n not in overdue]


# --- a ticket's buttons --------------------------------------------------------------------


def _state_machine_allows(actor, ticket_id, action) -> bool:
    """Try the action for real in a savepoint: allowed unless the status, the role or the
    scope refuses (a missing reason, target or photo does not count)."""
    ticket = db.session.get(Ticket, ticket_id)
    nested = db.session.begin_nested()
    try:
        transition(ticket, action, actor, ActionInput(reason=None))
        allowed = True
    except (InvalidTransition, Forbidden, NotFound):
        allowed = False
    except Exception:  # noqa: BLE001 - Invalid: the inputs, not the rule
        allowed = True
    nested.rollback()
    db.session.rollback()  # nothing of the attempt stays, nor its lock
    return allowed


@pytest.mark.parametrize("status", ["pending", "dispatched", "accepted", "resolved", "closed", "rejected"])
def test_buttons_are_exactly_what_the_state_machine_allows(client, registry, resident, status):
    ticket = _ticket(client, resident, registry)
    _set(ticket["id"], status=TicketStatus(status))
    street = make_person("钱街道", "13500004444", code="P-QJD")
    db.session.add(StaffAssignment(person=street, role=Role.STREET_STAFF, street=registry.street))
    db.session.commit()
    for person in (registry.workers[0], registry.community_staff, street):
        _switch(client, person)
        page = _page(client, f"/console/tickets/{ticket['id']}")
        actor = load_actor(person.id)
        expected = {a.value for a in STAFF_ACTIONS if _state_machine_allows(actor, ticket["id"], a)}
        assert _buttons(page) == expected, (person.name, status)
        offered = actions.available_actions(actor, db.session.get(Ticket, ticket["id"]))
        assert {a.value for a in offered} == expected
        if status in ("pending", "dispatched", "accepted"):  # the supervisors hand it on, not the worker
            assert ("reassign" in expected) is (person is not registry.workers[0])
    if status in ("closed", "rejected"):
        assert "当前状态下您没有可执行的操作" in page


def test_grid_worker_cannot_reassign_and_sees_escalation_target(client, registry, resident):
    ticket = _ticket(client, resident, registry)
    sign_in_as(client, registry.workers[0])
    page = _page(client, f"/console/tickets/{ticket['id']}")
    assert _buttons(page) == {"accept", "return", "escalate", "reject", "merge"}
    assert 'id="escalate-to">社区<' in page
    assert "网格员" in page and "按责任矩阵" not in page and "派给本网格专职网格员" in page
    assert "grid_worker" not in page and "督办层级" in page


# --- actions: the same result as the API's ----------------------------------------------


def _post_action(client, ticket_id, action, **fields):
    page = _page(client, f"/console/tickets/{ticket_id}")
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    data = {"csrf_token": csrf_token(client, f"/console/tickets/{ticket_id}"), "action": action,
            "version": version, **fields}
    return client.post(f"/console/tickets/{ticket_id}/actions", data=data, content_type="multipart/form-data")


COMPARED = ("status", "assignee", "level", "kind", "me_too_count", "rating", "is_overdue")


def _state(client, headers, ticket_id) -> dict:
    body = client.get(f"/api/v1/tickets/{ticket_id}", headers=headers).get_json()
    return {
        **{key: body[key] for key in COMPARED},
        "timeline": [(e["action"], e["actor_role"], e["note"], e["reason"], len(e["photo_ids"])) for e in body["timeline"]],
    }


SCRIPTS = [
    ("grid_worker", [("accept", {}), ("resolve", {"note": "已更换灯泡"})]),
    ("grid_worker", [("return", {"reason": "wrong_grid", "note": "不是本网格"})]),
    ("grid_worker", [("escalate", {"reason": "needs_coordination"})]),
    ("grid_worker", [("reject", {"reason": "invalid"})]),
    ("community_staff", [("reassign", {"target": "worker_b", "reason": "workload"})]),
    ("community_staff", [("return", {"reason": "wrong_grid"}), ("dispatch", {"target": "worker_b"})]),
]


@pytest.mark.parametrize("who,script", SCRIPTS)
def test_each_action_through_the_console_ends_as_through_the_api(client, registry, resident, who, script):
    person = registry.workers[0] if who == "grid_worker" else registry.community_staff
    staff_headers = auth_headers(client, person)
    by_api = _ticket(client, resident, registry)
    by_console = _ticket(client, resident, registry)
    sign_in_as(client, person)
    for action, fields in script:
        fields = {k: (registry.workers[1].id if v == "worker_b" else v) for k, v in fields.items()}
        api_body = {"action": action, **fields}
        console_fields = dict(fields)
        if action == "resolve":
            api_body["photo_ids"] = [upload_photo(client, staff_headers)]
            console_fields["photo"] = (io.BytesIO(jpeg_bytes()), "after.jpg")
        answer = client.post(f"/api/v1/tickets/{by_api['id']}/actions", json=api_body, headers=staff_headers)
        assert answer.status_code == 200, answer.get_json()
        response = _post_action(client, by_console["id"], action, **console_fields)
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        shown = _page(client, response.headers["Location"])
        assert 'id="action-done"' in shown
    assert _state(client, resident, by_console["id"]) == _state(client, resident, by_api["id"])
    entries = db.session.query(AuditEntry).filter_by(action="ticket_action", target_id=by_console["id"]).order_by(AuditEntry.id).all()
    assert [e.detail["action"] for e in entries] == [a for a, _ in script]
    assert all(e.actor_id == person.id for e in entries)


def test_merge_by_number_and_refusals_shown_in_chinese(client, registry, resident):
    first = _ticket(client, resident, registry)
    second = _ticket(client, resident, registry, category="fire_lane", description="消防通道被堵住了")
    sign_in_as(client, registry.workers[0])
    # A reason is required: the page says so, nothing changes.
    refused = _post_action(client, second["id"], "reject")
    assert refused.status_code == 422
    assert "驳回需要选择原因" in refused.get_data(as_text=True)
    assert db.session.get(Ticket, second["id"]).status is TicketStatus.DISPATCHED
    # A stale version: 409, told to refresh.
    page = _page(client, f"/console/tickets/{second['id']}")
    stale = client.post(f"/console/tickets/{second['id']}/actions", data={
        "csrf_token": csrf_token(client, "/console/"), "action": "accept", "version": "99"})
    assert stale.status_code == 409
    assert "刷新" in stale.get_data(as_text=True) and 'id="refresh"' in stale.get_data(as_text=True)
    assert "version" in page
    # Resolve without a photo: refused with the state machine's words.
    _post_action(client, second["id"], "accept")
    no_photo = _post_action(client, second["id"], "resolve", note="已处理")
    assert no_photo.status_code == 422 and "处理后的照片" in no_photo.get_data(as_text=True)
    merged = _post_action(client, second["id"], "merge", target=first["number"], reason="duplicate")
    assert merged.status_code == 303
    db.session.expire_all()
    assert db.session.get(Ticket, second["id"]).merged_into_id == first["id"]
    assert db.session.get(Ticket, first["id"]).me_too_count == 1
    assert first["number"] in _page(client, f"/console/tickets/{second['id']}")


def test_a_post_without_the_csrf_token_changes_nothing(client, registry, resident):
    ticket = _ticket(client, resident, registry)
    sign_in_as(client, registry.workers[0])
    response = client.post(f"/console/tickets/{ticket['id']}/actions", data={"action": "accept", "version": "1"})
    assert response.status_code == 400
    assert "操作未执行" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Ticket, ticket["id"]).status is TicketStatus.DISPATCHED
    assert client.post(f"/console/tickets/{ticket['id']}/phone", data={"reason": "callback"}).status_code == 400
    assert db.session.query(AuditEntry).filter_by(action="phone_shown").count() == 0


def test_reply_templates_of_the_category_are_offered(client, registry, resident):
    ticket = _ticket(client, resident, registry)
    db.session.add_all([
        ReplyTemplate(category_id=registry.categories["light"].id, text="已更换楼道灯泡。", sort_order=1),
        ReplyTemplate(category_id=registry.categories["fire_lane"].id, text="已清理消防通道。"),
        ReplyTemplate(category_id=None, text="已处理完毕，感谢反映。"),
    ])
    db.session.commit()
    sign_in_as(client, registry.workers[0])
    _post_action(client, ticket["id"], "accept")
    page = _page(client, f"/console/tickets/{ticket['id']}")
    assert 'id="reply-template" data-fills="resolve-note"' in page
    assert "已更换楼道灯泡。" in page and "已处理完毕，感谢反映。" in page
    assert "已清理消防通道。" not in page
    assert page.index("已更换楼道灯泡。") < page.index("已处理完毕，感谢反映。")
    assert "console-ticket.js" in page and "<script>" not in page


# --- photos, phones ------------------------------------------------------------------------


def test_photos_before_and_after_through_the_console(client, registry, resident):
    before = upload_photo(client, resident)
    ticket = _ticket(client, resident, registry, photo_ids=[before])
    sign_in_as(client, registry.workers[0])
    _post_action(client, ticket["id"], "accept")
    done = _post_action(client, ticket["id"], "resolve", note="已更换灯泡",
                        photo=(io.BytesIO(jpeg_bytes(color=(20, 160, 40))), "after.jpg"))
    assert done.status_code == 303
    page = _page(client, f"/console/tickets/{ticket['id']}")
    after = db.session.get(Ticket, ticket["id"]).events[-1].photo_ids[0]
    assert f'/console/photos/{before}" alt="处理前照片1"' in page
    assert f'/console/photos/{after}" alt="处理后照片1"' in page
    image = client.get(f"/console/photos/{after}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    _switch(client, registry.workers[1])  # the other grid's worker
    missing = client.get(f"/console/photos/{after}")
    assert missing.status_code == 404 and "返回工作台" in missing.get_data(as_text=True)


def test_phone_masked_and_show_number_is_audited(client, registry, resident):
    ticket = _ticket(client, resident, registry, contact_phone="13912345678")
    sign_in_as(client, registry.workers[0])
    page = _page(client, f"/console/tickets/{ticket['id']}")
    assert "139****5678" in page and "13912345678" not in page
    path = f"/console/tickets/{ticket['id']}/phone"
    refused = client.post(path, data={"csrf_token": csrf_token(client, "/console/"), "reason": ""})
    assert refused.status_code == 422 and "13912345678" not in refused.get_data(as_text=True)
    refused = client.post(path, data={"csrf_token": csrf_token(client, "/console/"), "reason": "other"})
    assert refused.status_code == 422 and "请填写查看号码的原因" in refused.get_data(as_text=True)
    assert db.session.query(AuditEntry).filter_by(action="phone_shown").count() == 0
    shown = client.post(path, data={"csrf_token": csrf_token(client, "/console/"), "reason": "callback", "note": "回访"})
    assert shown.status_code == 200
    assert "13912345678" in shown.get_data(as_text=True)
    entry = db.session.query(AuditEntry).filter_by(action="phone_shown").one()
    assert entry.target_id == ticket["id"] and entry.actor_id == registry.workers[0].id
    assert entry.detail == {"reason": "callback", "note": "回访"}
    # The next view masks it again.
    assert "13912345678" not in _page(client, f"/console/tickets/{ticket['id']}")


# --- scope -------------------------------------------------------------------------------------


def _second_community(registry):
    community = Community(code="FL-02", name="和平社区", street_id=registry.street.id)
    worker = make_person("陈晨", "13811112222", code="P-CC")
    grid = Grid(code="FL-02-G1", name="第1网格", community=community, worker=worker)
    building = Building(code="FL-02-G1-B1", name="和平1号楼", address="和平路1号", grid=grid)
    staff = make_person("钱芳", "13622223333", code="P-QF")
    reader = make_person("孙悦", "13533334444", code="P-SY")
    db.session.add_all([
        community, grid, building,
        StaffAssignment(person=worker, role=Role.GRID_WORKER, grid=grid),
        StaffAssignment(person=staff, role=Role.COMMUNITY_STAFF, community=community),
        StaffAssignment(person=reader, role=Role.WISH_READER, community=registry.community),
    ])
    db.session.flush()
    code = issue_code(building.id).code
    db.session.commit()
    return code, staff


def test_notifications_are_scoped_and_in_chinese(client, registry, resident):
    code, other_staff = _second_community(registry)
    ours = _ticket(client, resident, registry)
    theirs = submit(client, resident, code, description="和平社区的楼道灯坏了").get_json()
    wish = _ticket(client, resident, registry, kind="wish", category="wish", description="希望增加健身器材")
    drain(100)
    db.session.commit()
    sign_in_as(client, registry.community_staff)
    page = _page(client, "/console/notifications")
    assert ours["number"] in page
    assert theirs["number"] not in page and wish["number"] not in page
    assert "新工单派达" in page and ("已发送" in page or "未发送" in page)
    for english in (">queued<", ">sent<", ">skipped<", ">log<", "ticket_dispatched"):
        assert english not in page
    _switch(client, other_staff)
    page = _page(client, "/console/notifications")
    assert theirs["number"] in page and ours["number"] not in page


def test_grid_worker_gets_404_on_another_grids_ticket(client, registry, resident):
    theirs = _ticket(client, resident, registry, building=2)
    sign_in_as(client, registry.workers[0])
    page = client.get(f"/console/tickets/{theirs['id']}")
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    assert "返回工作台" in body and 'aria-label="工作台菜单"' in body and theirs["number"] not in body
    assert not page.is_json
    posted = client.post(f"/console/tickets/{theirs['id']}/actions", data={
        "csrf_token": csrf_token(client, "/console/"), "action": "accept", "version": "1"})
    assert posted.status_code == 404 and not posted.is_json
    phone = client.post(f"/console/tickets/{theirs['id']}/phone", data={
        "csrf_token": csrf_token(client, "/console/"), "reason": "callback"})
    assert phone.status_code == 404
    db.session.expire_all()
    assert db.session.get(Ticket, theirs["id"]).status is TicketStatus.DISPATCHED
    assert client.get("/console/tickets/no-such-ticket").status_code == 404


def test_a_resident_reaches_no_console_page(client, registry, resident):
    ticket = _ticket(client, resident, registry)
    for path in ("/console/", f"/console/tickets/{ticket['id']}", "/console/notifications"):
        response = client.get(path)
        assert response.status_code == 302 and "/console/login" in response.headers["Location"]
    # A resident cannot sign in (not staff): the demo picker refuses them.
    refused = client.post("/console/login/demo", data={"openid": "work-resident", "csrf_token": csrf_token(client)})
    assert refused.status_code == 403
    assert client.get("/console/").status_code == 302
