"""The phone web page's report form and private follow link, through the Flask test client."""
from __future__ import annotations

import io
import re
import threading
import uuid

import pytest

from tests.factories import jpeg_bytes, make_registry
from webapp.extensions import db
from webapp.h5.follow import follow_token
from webapp.h5.guest import COOKIE_NAME
from webapp.people.actors import load_actor
from webapp.people.models import AuthSession, Person, Role, StaffAssignment
from webapp.tickets import photos
from webapp.tickets.models import Photo, Ticket, TicketStatus
from webapp.tickets.state_machine import Action, ActionInput, transition

DESCRIPTION = "2单元3楼楼道灯不亮已经一周了"
PHP = b"<?php system($_GET['c']); ?>\n"


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def code(registry):
    return registry.codes[registry.buildings[0].id]


def _page_form(client, code):
    response = client.get(f"/b/{code}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    token = re.search(r'name="form_token" value="([^"]+)"', html).group(1)
    return key, token


def _post(client, code, *, key=None, token=None, photos=(), **fields):
    if key is None:
        key, token = _page_form(client, code)
    data = {
        "idempotency_key": key,
        "form_token": token,
        "kind": "report",
        "category_report": "light",
        "category_wish": "",
        "unit": "2单元",
        "description": DESCRIPTION,
        "contact_phone": "",
    }
    data.update(fields)
    data["photos"] = [(io.BytesIO(body), name) for body, name in photos]
    return client.post(f"/b/{code}/report", data=data, content_type="multipart/form-data")


def _ticket_id(response) -> str:
    match = re.match(r"^/t/([^/]+)/([^/?]+)\?new=1$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def _tickets() -> list[Ticket]:
    db.session.expire_all()
    return db.session.query(Ticket).all()


def _resolve(ticket_id: str, worker: Person) -> None:
    """Staff accept and resolve through the state machine, with an "after" photo."""
    actor = load_actor(worker.id)
    ticket = db.session.get(Ticket, ticket_id)
    transition(ticket, Action.ACCEPT, actor)
    after = photos.store_upload(actor, io.BytesIO(jpeg_bytes(color=(30, 160, 60))), "after.jpg")
    transition(ticket, Action.RESOLVE, actor, ActionInput(note="已更换灯泡", photo_ids=[after.id]))
    db.session.commit()


def test_page_shows_the_form_with_categories_of_both_kinds_and_a_token(client, code, app):
    response = client.get(f"/b/{code}")
    html = response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert 'action="/b/%s/report"' % code in html and 'enctype="multipart/form-data"' in html
    report_select = html.split('name="category_report"')[1].split("</select>")[0]
    wish_select = html.split('name="category_wish"')[1].split("</select>")[0]
    assert "楼道照明" in report_select and "电梯故障" in report_select and "心语心愿" not in report_select
    assert 'value="wish"' in wish_select and "楼道照明" not in wish_select
    assert "1单元" in html.split('name="unit"')[1].split("</select>")[0]
    assert 'type="file" name="photos"' in html and 'accept="image/*"' in html
    assert "capture=" in html and "multiple" in html
    assert 'name="anonymous"' in html and "匿名" in html
    key, token = _page_form(client, code)
    uuid.UUID(key)
    from webapp.h5.report import form_token_ok

    assert form_token_ok(token, code, key)
    assert not form_token_ok(token, "OTHERCODE", key)
    assert _page_form(client, code)[0] != key  # a fresh key per rendering


def test_report_with_a_photo_is_routed_to_the_grid_worker_and_followed(client, code, registry):
    response = _post(client, code, photos=[(jpeg_bytes(), "IMG_0001.JPG")], contact_phone="138 0013 8000")
    assert response.status_code == 303, response.get_data(as_text=True)
    ticket_id = _ticket_id(response)
    [ticket] = _tickets()
    assert ticket.id == ticket_id
    assert ticket.status is TicketStatus.DISPATCHED
    assert ticket.assignee_id == registry.workers[0].id
    assert ticket.unit.name == "2单元" and ticket.contact_phone == "13800138000"
    reporter = db.session.get(Person, ticket.reporter_id)
    assert reporter.openid is None  # a guest
    [photo] = db.session.query(Photo).all()
    assert photo.ticket_id == ticket.id and ticket.photo_ids == [photo.id]

    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert ticket.number in html and "已派单" in html and "提交成功" in html
    assert "网格员 张丽" in html and "楼道照明" in html and "1区1号楼" in html
    assert "请保存此链接以便查看处理进度" in html
    assert f"https://grid.example.cn/t/{ticket.id}/{follow_token(ticket.id)}" in html
    assert "（北京时间）" in html and "+08" not in html
    assert "提交" in html and "派给本网格专职网格员" in html  # the timeline, in Chinese
    photo_url = f"/t/{ticket.id}/{follow_token(ticket.id)}/photos/{photo.id}"
    assert photo_url in html
    image = client.get(photo_url)
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.data[:2] == b"\xff\xd8"
    assert image.headers["Cache-Control"].startswith("private")


def test_the_guest_cookie_is_httponly_and_reused(client, code):
    first = _post(client, code)
    [cookie] = [c for c in first.headers.getlist("Set-Cookie") if c.startswith(COOKIE_NAME + "=")]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert any(a.startswith("max-age=") and int(a.split("=")[1]) > 86400 for a in attributes)
    assert "secure" not in attributes  # plain http here; https sets Secure
    second = _post(client, code, description="1单元门口的路灯也不亮了")
    assert second.status_code == 303
    assert not [c for c in second.headers.getlist("Set-Cookie") if c.startswith(COOKIE_NAME + "=")]
    tickets = _tickets()
    assert len(tickets) == 2
    assert tickets[0].reporter_id == tickets[1].reporter_id
    assert db.session.query(Person).filter(Person.openid.is_(None), Person.code.is_(None)).count() == 1


def test_secure_cookie_on_https(client, code):
    key, token = _page_form(client, code)
    response = client.post(
        f"/b/{code}/report",
        data={"idempotency_key": key, "form_token": token, "kind": "report",
              "category_report": "light", "description": DESCRIPTION},
        base_url="https://localhost",
    )
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"].lower()
    assert "; secure" in cookie and "httponly" in cookie


def test_same_idempotency_key_twice_makes_one_ticket(client, code, app):
    key, token = _page_form(client, code)
    first = _post(client, code, key=key, token=token, photos=[(jpeg_bytes(), "a.jpg")])
    second = _post(client, code, key=key, token=token, photos=[(jpeg_bytes(), "a.jpg")])
    # The first response was lost: a browser without the cookie resubmits the same form.
    stranger = app.test_client()
    third = _post(stranger, code, key=key, token=token, photos=[(jpeg_bytes(), "a.jpg")])
    assert first.status_code == second.status_code == third.status_code == 303
    assert first.headers["Location"] == second.headers["Location"] == third.headers["Location"]
    assert len(_tickets()) == 1
    assert db.session.query(Photo).count() == 1  # the repeats stored no photos


def test_same_key_with_another_text_asks_to_confirm(client, code):
    key, token = _page_form(client, code)
    assert _post(client, code, key=key, token=token).status_code == 303
    again = _post(client, code, key=key, token=token, description="另一个问题：消防通道被占")
    html = again.get_data(as_text=True)
    assert again.status_code == 422
    assert "这份表单已经提交过" in html and "另一个问题：消防通道被占" in html
    assert f'value="{key}"' not in html  # a fresh key: confirming files the new problem
    new_key = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    new_token = re.search(r'name="form_token" value="([^"]+)"', html).group(1)
    assert _post(client, code, key=new_key, token=new_token, description="另一个问题：消防通道被占").status_code == 303
    assert len(_tickets()) == 2


@pytest.mark.parametrize("mangle", ["forged", "other_code", "other_key", "missing"])
def test_bad_form_token_files_nothing(client, code, registry, mangle):
    key, token = _page_form(client, code)
    other = registry.codes[registry.buildings[1].id]
    if mangle == "forged":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif mangle == "other_code":
        token = _page_form(client, other)[1]
    elif mangle == "other_key":
        key = str(uuid.uuid4())
    else:
        token = ""
    response = _post(client, code, key=key, token=token, photos=[(jpeg_bytes(), "a.jpg")])
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "页面已过期或来源无法确认" in html and "照片需重新选择" in html
    assert DESCRIPTION in html  # the text is kept
    assert _tickets() == [] and db.session.query(Photo).count() == 0


def test_expired_form_token_is_refused(client, code, monkeypatch):
    import webapp.h5.report as report

    key, token = _page_form(client, code)
    monkeypatch.setattr(report, "FORM_MAX_AGE_SECONDS", -1)
    assert _post(client, code, key=key, token=token).status_code == 400
    assert _tickets() == []


def test_empty_description_shows_the_message_and_keeps_the_input(client, code):
    response = _post(client, code, description="   ", contact_phone="13912345678", unit="1单元",
                     category_report="fire_lane")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "问题描述需要5到500个字" in html
    assert 'value="13912345678"' in html
    assert '<option value="1单元" selected>' in html
    assert '<option value="fire_lane" selected>' in html
    assert _tickets() == []
    assert db.session.query(Person).filter(Person.openid.is_(None), Person.code.is_(None)).count() == 0


def test_a_nul_character_in_a_field_is_refused_and_files_nothing(client, code):
    response = _post(client, code, description="楼道灯坏了\x00很黑很黑")
    assert response.status_code == 422
    assert "内容中含有无法识别的字符" in response.get_data(as_text=True)
    assert _tickets() == []


def test_several_field_errors_at_once(client, code):
    response = _post(client, code, category_report="", description="短", contact_phone="12345")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "请选择问题类别" in html and "问题描述需要5到500个字" in html and "请填写11位手机号码" in html


def test_unknown_unit_and_category_come_back_from_the_domain(client, code):
    response = _post(client, code, unit="9单元")
    assert response.status_code == 422
    assert "该楼栋没有这个单元" in response.get_data(as_text=True)
    response = _post(client, code, category_report="wish")  # a wish category as a report
    assert response.status_code == 422
    assert "请选择正确的问题类别" in response.get_data(as_text=True)
    assert _tickets() == []


def test_php_file_named_jpg_is_refused_and_files_nothing(client, code):
    response = _post(client, code, photos=[(jpeg_bytes(), "ok.jpg"), (PHP, "shell.jpg")])
    html = response.get_data(as_text=True)
    assert response.status_code == 415
    assert "第2张照片：只能上传 JPEG、PNG 或 WebP 格式的照片" in html
    assert "照片需要重新选择" in html and DESCRIPTION in html
    assert _tickets() == []
    assert db.session.query(Photo).count() == 0
    assert db.session.query(AuthSession).count() == 0


def test_too_many_photos(client, code):
    response = _post(client, code, photos=[(jpeg_bytes(), f"{n}.jpg") for n in range(10)])
    assert response.status_code == 422
    assert "最多上传9张照片" in response.get_data(as_text=True)
    assert _tickets() == []


def test_photo_too_large(client, code, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 300)
    response = _post(client, code, photos=[(jpeg_bytes(size=(400, 300)), "big.jpg")])
    assert response.status_code == 413
    assert "第1张照片" in response.get_data(as_text=True)
    assert _tickets() == []


def test_whole_form_too_large(client, code, app, monkeypatch):
    monkeypatch.setitem(app.config, "PHOTO_MAX_BYTES", 1000)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = _post(client, code, photos=[(b"\xff" * (1024 * 1024 + 20_000), "huge.jpg")])
    assert response.status_code == 413
    assert "照片总大小超过" in response.get_data(as_text=True)
    assert _tickets() == []


def test_revoked_and_unknown_codes(client, code, registry):
    from webapp.registry.codes import revoke_code

    key, token = _page_form(client, code)
    revoke_code(registry.buildings[0].id)
    db.session.commit()
    page = client.get(f"/b/{code}")
    assert page.status_code == 410 and "已停用" in page.get_data(as_text=True)
    posted = _post(client, code, key=key, token=token)
    assert posted.status_code == 410 and "已停用" in posted.get_data(as_text=True)
    assert _tickets() == []
    missing = client.get("/b/NoSuchCode123")
    assert missing.status_code == 404 and "未找到" in missing.get_data(as_text=True)


def test_wrong_follow_token_is_404(client, code):
    ticket_id = _ticket_id(_post(client, code, photos=[(jpeg_bytes(), "a.jpg")]))
    [photo] = db.session.query(Photo).all()
    good = follow_token(ticket_id)
    for token in ("x" * len(good), good[:-1], good + "A", follow_token("someoneelse")):
        page = client.get(f"/t/{ticket_id}/{token}")
        assert page.status_code == 404 and "未找到该工单" in page.get_data(as_text=True)
        assert client.get(f"/t/{ticket_id}/{token}/photos/{photo.id}").status_code == 404
        assert client.post(f"/t/{ticket_id}/{token}/feedback", data={"resolved": "1", "rating": "5"}).status_code == 404
    assert client.get(f"/t/nosuchticket/{follow_token('nosuchticket')}").status_code == 404


def test_hidden_and_foreign_photos_are_not_served(client, code):
    first = _ticket_id(_post(client, code, photos=[(jpeg_bytes(), "a.jpg")]))
    second = _ticket_id(_post(client, code, description="1单元门口的路灯也不亮了",
                              photos=[(jpeg_bytes(color=(0, 0, 200)), "b.jpg")]))
    photo_a = db.session.query(Photo).filter_by(ticket_id=first).one()
    photo_b = db.session.query(Photo).filter_by(ticket_id=second).one()
    base = f"/t/{first}/{follow_token(first)}"
    assert client.get(f"{base}/photos/{photo_b.id}").status_code == 404  # another ticket's
    photo_a.is_hidden = True
    db.session.commit()
    assert client.get(f"{base}/photos/{photo_a.id}").status_code == 404
    assert photo_a.id not in client.get(base).get_data(as_text=True)


def test_feedback_on_a_resolved_ticket_closes_it(client, code, registry):
    response = _post(client, code, photos=[(jpeg_bytes(), "a.jpg")])
    ticket_id = _ticket_id(response)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "处理结果评价" not in page
    _resolve(ticket_id, registry.workers[0])

    base = f"/t/{ticket_id}/{follow_token(ticket_id)}"
    page = client.get(base).get_data(as_text=True)
    assert "待评价" in page and "处理结果评价" in page and "已更换灯泡" in page
    assert "办结反馈" in page and "接单" in page
    after = db.session.query(Photo).filter(Photo.ticket_id == ticket_id, Photo.id.not_in(_tickets()[0].photo_ids)).one()
    assert f"{base}/photos/{after.id}" in page
    assert client.get(f"{base}/photos/{after.id}").status_code == 200

    missing = client.post(f"{base}/feedback", data={"resolved": "1", "comment": "很及时"})
    assert missing.status_code == 422 and "请给出1到5星的评价" in missing.get_data(as_text=True)
    assert "很及时" in missing.get_data(as_text=True)

    done = client.post(f"{base}/feedback", data={"resolved": "1", "rating": "5", "comment": "很及时"})
    assert done.status_code == 303 and done.headers["Location"].startswith(base)
    [ticket] = _tickets()
    assert ticket.status is TicketStatus.CLOSED and ticket.rating == 5 and ticket.rating_comment == "很及时"
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已办结" in page and "感谢您的反馈" in page and "确认解决" in page

    again = client.post(f"{base}/feedback", data={"resolved": "1", "rating": "4"})
    assert again.status_code == 409 and "不能" in again.get_data(as_text=True)


def test_not_fixed_reopens_even_from_another_browser(client, code, registry, app):
    ticket_id = _ticket_id(_post(client, code))
    _resolve(ticket_id, registry.workers[0])
    other = app.test_client()  # the link is the credential of a guest's ticket
    response = other.post(
        f"/t/{ticket_id}/{follow_token(ticket_id)}/feedback", data={"resolved": "0", "comment": "灯还是不亮"}
    )
    assert response.status_code == 303
    [ticket] = _tickets()
    assert ticket.status is TicketStatus.DISPATCHED and ticket.reopen_count == 1
    assert ticket.assignee_id == registry.workers[0].id


def test_anonymous_wish_feedback_needs_the_reporters_browser(client, code, registry, app):
    response = _post(client, code, kind="wish", category_report="", category_wish="wish",
                     description="希望小区增加一些休息座椅", anonymous="1", contact_phone="13800138000")
    assert response.status_code == 303
    ticket_id = _ticket_id(response)
    [ticket] = _tickets()
    assert ticket.is_anonymous and ticket.reporter_id is None and ticket.contact_phone is None
    assert "希望小区增加" not in client.get(f"/b/{code}").get_data(as_text=True)

    reader = registry.community_staff
    db.session.add(StaffAssignment(person_id=reader.id, role=Role.WISH_READER, community_id=registry.community.id))
    db.session.commit()
    actor = load_actor(reader.id)
    ticket = db.session.get(Ticket, ticket_id)
    if ticket.status is TicketStatus.PENDING:
        transition(ticket, Action.DISPATCH, actor, ActionInput(target=reader.id))
    transition(ticket, Action.ACCEPT, actor)
    transition(ticket, Action.RESOLVE, actor, ActionInput(note="已在3号楼前增加座椅"))
    db.session.commit()

    base = f"/t/{ticket_id}/{follow_token(ticket_id)}"
    other = app.test_client()
    assert "请使用提交时的手机浏览器" in other.get(base).get_data(as_text=True)
    refused = other.post(f"{base}/feedback", data={"resolved": "1", "rating": "5"})
    assert refused.status_code == 403
    assert _tickets()[0].status is TicketStatus.RESOLVED
    page = client.get(base).get_data(as_text=True)
    assert "匿名" in page and "已解决，提交评价" in page
    assert client.post(f"{base}/feedback", data={"resolved": "1", "rating": "4"}).status_code == 303
    assert _tickets()[0].status is TicketStatus.CLOSED


def test_an_old_cookie_is_refreshed_and_a_bad_one_ignored(client, code):
    ticket_id = _ticket_id(_post(client, code))
    reporter = _tickets()[0].reporter_id
    cookie = client.get_cookie(COOKIE_NAME)
    issued, _, token = cookie.value.partition(".")
    client.set_cookie(COOKIE_NAME, f"{int(issued) - 2 * 86400}.{token}")
    page = client.get(f"/t/{ticket_id}/{follow_token(ticket_id)}")
    assert COOKIE_NAME + "=" in page.headers.get("Set-Cookie", "")
    assert client.get_cookie(COOKIE_NAME).value.partition(".")[2] != token
    assert _post(client, code, description="1单元门口的路灯也不亮了").status_code == 303
    assert {t.reporter_id for t in _tickets()} == {reporter}

    client.set_cookie(COOKIE_NAME, "123.not-a-token")
    assert _post(client, code, description="消防通道被电动车堵住了", category_report="fire_lane").status_code == 303
    assert len({t.reporter_id for t in _tickets()}) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("with_cookie", [False, True], ids=["first_submission", "known_guest"])
def test_concurrent_posts_of_one_form_make_one_ticket(app, client, code, with_cookie):
    cookie = None
    if with_cookie:
        assert _post(client, code, description="1单元门口的路灯也不亮了").status_code == 303
        cookie = client.get_cookie(COOKIE_NAME).value
    key, token = _page_form(client, code)
    barrier = threading.Barrier(4)
    results = []

    def send():
        local = app.test_client()
        if cookie:
            local.set_cookie(COOKIE_NAME, cookie)
        barrier.wait()
        with app.app_context():
            response = _post(local, code, key=key, token=token, photos=[(jpeg_bytes(), "a.jpg")])
            results.append((response.status_code, response.headers.get("Location")))
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [303] * 4, results
    assert len({location for _, location in results}) == 1
    assert len(_tickets()) == (2 if with_cookie else 1)
    assert len({t.reporter_id for t in _tickets()}) == 1
