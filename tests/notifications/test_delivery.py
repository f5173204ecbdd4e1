"""How the drainer acts on each answer of subscribeMessage.send, what it sends besides the
values (miniprogram_state, lang), and long-term templates (长期订阅), whose consent a send does
not use up.

WeChat's HTTP API is mocked with `responses` on its real URLs (the `wechat` fixture), so the
real gateway and wechatpy code run.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import responses

from tests.factories import auth_headers, make_person, make_registry, submit
from tests.notifications.helpers import sends
from webapp.extensions import db
from webapp.notifications import outbox
from webapp.notifications.models import OutboxMessage, OutboxState
from webapp.notifications.subscriptions import (
    CHANGE_EVENT,
    POPUP_EVENT,
    SENT_EVENT,
    add_consent,
    apply_subscription_event,
    consume_consent,
    grant_consent,
    remaining_consent,
)
from webapp.wechat import SUBSCRIBE_SEND_URL

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
LONG = "TPL-LONG-TERM"


def _person(openid="o-resident-1"):
    person = make_person("居民甲", openid=openid)
    db.session.commit()
    return person


def _queued(person, kind="ticket_resolved"):
    message = outbox.enqueue(person.id, kind, data={"number": "JY-20261122-0001"}, now=T0)
    db.session.commit()
    return message


def _state(message_id) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def _with_consent(person, message, count=1):
    add_consent(person.id, message.template_id, count=count)
    db.session.commit()


# --- subscribeMessage.send's errcodes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [
        (43108, "Cannot make concurrent calls to the same OpenID, please try again"),
        (45009, "reach max api daily quota limit"),
        (45011, "api minute-quota reach limit"),
        (-1, "system error"),
    ],
)
def test_retryable_errcodes_put_the_message_back_with_backoff_and_keep_the_consent(app_ctx, wechat, errcode, errmsg):
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": errcode, "errmsg": errmsg})
    person = _person()
    message = _queued(person)
    _with_consent(person, message)
    assert outbox.drain(now=T0)["retry"] == 1
    waiting = _state(message.id)
    assert (waiting.state, waiting.attempts) == (OutboxState.QUEUED, 1)
    assert waiting.next_attempt_at == T0 + timedelta(seconds=60)
    assert f"errcode {errcode}" in waiting.last_error
    assert remaining_consent(person.id, message.template_id) == 1


def test_43108_is_sent_on_the_next_try_and_uses_one_consent(app_ctx, wechat):
    """Sending too fast to one person is no reason to drop the notice: it goes out later, once."""
    wechat.add(
        responses.POST, SUBSCRIBE_SEND_URL,
        json={"errcode": 43108, "errmsg": "Cannot make concurrent calls to the same OpenID, please try again"},
    )
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok", "msgid": 7})
    person = _person()
    message = _queued(person)
    _with_consent(person, message, count=2)
    assert outbox.drain(now=T0)["retry"] == 1
    assert remaining_consent(person.id, message.template_id) == 2
    assert outbox.drain(now=T0 + timedelta(seconds=59))["claimed"] == 0  # not due yet
    assert outbox.drain(now=T0 + timedelta(seconds=60))["sent"] == 1
    done = _state(message.id)
    assert (done.state, done.attempts, done.last_error) == (OutboxState.SENT, 2, None)
    assert remaining_consent(person.id, message.template_id) == 1
    assert len(sends(wechat)) == 2


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [
        (40003, "invalid openid"),
        (40037, "invalid template_id"),
        (41030, "invalid page"),
        (43107, "subscribe message capability is banned"),
        (45168, "sensitive words"),
        (47003, "argument invalid! data.thing2.value is emtpy"),
        (99999, "an errcode nobody documented"),
    ],
)
def test_permanent_errcodes_fail_the_message_at_once_and_keep_the_consent(app_ctx, wechat, errcode, errmsg):
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": errcode, "errmsg": errmsg})
    person = _person()
    message = _queued(person)
    _with_consent(person, message)
    assert outbox.drain(now=T0)["failed"] == 1
    assert outbox.drain(now=T0 + timedelta(days=1))["claimed"] == 0
    done = _state(message.id)
    assert (done.state, done.attempts) == (OutboxState.FAILED, 1)
    assert f"errcode {errcode}" in done.last_error
    assert remaining_consent(person.id, message.template_id) == 1
    assert len(sends(wechat)) == 1


def test_errcode_sets_do_not_overlap():
    assert not outbox.RETRYABLE_ERRCODES & outbox.PERMANENT_ERRCODES
    assert 43101 not in outbox.RETRYABLE_ERRCODES | outbox.PERMANENT_ERRCODES  # skipped, revoked


# --- miniprogram_state and lang -------------------------------------------------------------------


def test_send_says_formal_and_zh_cn_by_default(app_ctx, wechat):
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    person = _person()
    message = _queued(person)
    _with_consent(person, message)
    assert outbox.drain(now=T0)["sent"] == 1
    [sent] = sends(wechat)
    assert (sent["miniprogram_state"], sent["lang"]) == ("formal", "zh_CN")


def test_send_uses_the_configured_state_and_lang(app_ctx, wechat, monkeypatch):
    monkeypatch.setitem(app_ctx.config, "WECHAT_MINIPROGRAM_STATE", "trial")
    monkeypatch.setitem(app_ctx.config, "WECHAT_MESSAGE_LANG", "zh_TW")
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    person = _person()
    message = _queued(person)
    _with_consent(person, message)
    assert outbox.drain(now=T0)["sent"] == 1
    [sent] = sends(wechat)
    assert (sent["miniprogram_state"], sent["lang"]) == ("trial", "zh_TW")
    assert sent["touser"] == "o-resident-1" and sent["template_id"] == message.template_id


def test_gateway_sends_state_and_lang_only_when_given(app_ctx, wechat):
    from webapp.wechat import get_wechat

    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    gateway = get_wechat()
    gateway.send_subscribe_message("o-1", "T-1", {"thing1": {"value": "x"}})
    gateway.send_subscribe_message(
        "o-1", "T-1", {"thing1": {"value": "x"}}, page="pages/a", miniprogram_state="developer", lang="en_US"
    )
    plain, full = sends(wechat)
    assert "miniprogram_state" not in plain and "lang" not in plain and "page" not in plain
    assert (full["page"], full["miniprogram_state"], full["lang"]) == ("pages/a", "developer", "en_US")


# --- long-term templates --------------------------------------------------------------------------


@pytest.fixture
def long_term(app, monkeypatch):
    """ticket_dispatched and ticket_resolved use a long-term template; ticket_closed a one-time one."""
    monkeypatch.setitem(
        app.config, "WECHAT_TEMPLATES",
        {"ticket_dispatched": LONG, "ticket_resolved": {"id": LONG}, "ticket_closed": "TPL-ONCE"},
    )
    monkeypatch.setitem(app.config, "WECHAT_LONG_TERM_TEMPLATES", frozenset({LONG}))
    return LONG


def test_a_long_term_consent_is_one_however_often_accepted_and_never_consumed(app_ctx, long_term):
    person = _person()
    assert grant_consent(person.id, LONG).remaining == 1
    assert grant_consent(person.id, LONG).remaining == 1
    for _ in range(3):
        consume_consent(person.id, LONG)
    assert remaining_consent(person.id, LONG) == 1
    grant_consent(person.id, "TPL-ONCE")
    grant_consent(person.id, "TPL-ONCE")
    consume_consent(person.id, "TPL-ONCE")
    assert remaining_consent(person.id, "TPL-ONCE") == 1  # one-time: counted


def test_every_message_of_a_long_term_template_is_sent_after_one_accept(app_ctx, wechat, long_term):
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    person = _person()
    grant_consent(person.id, LONG)
    db.session.commit()
    messages = [_queued(person, "ticket_dispatched") for _ in range(4)]
    assert outbox.drain(now=T0)["sent"] == 4
    assert {_state(m.id).state for m in messages} == {OutboxState.SENT}
    assert [s["template_id"] for s in sends(wechat)] == [LONG] * 4
    assert remaining_consent(person.id, LONG) == 1


def test_a_one_time_template_still_needs_one_accept_per_message(app_ctx, wechat, long_term):
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    person = _person()
    grant_consent(person.id, "TPL-ONCE")
    db.session.commit()
    first, second = _queued(person, "ticket_closed"), _queued(person, "ticket_closed")
    counts = outbox.drain(now=T0)
    assert (counts["sent"], counts["skipped"]) == (1, 1)
    assert _state(second.id).last_error == "用户未订阅"
    assert _state(first.id).state is OutboxState.SENT


def test_43101_revokes_a_long_term_consent(app_ctx, wechat, long_term):
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 43101, "errmsg": "user refuse to accept the msg"})
    person = _person()
    grant_consent(person.id, LONG)
    db.session.commit()
    first, second = _queued(person, "ticket_dispatched"), _queued(person, "ticket_dispatched")
    assert outbox.drain(now=T0)["skipped"] == 2
    assert "43101" in _state(first.id).last_error
    assert _state(second.id).last_error == "用户未订阅"  # no second request
    assert len(sends(wechat)) == 1
    assert remaining_consent(person.id, LONG) == 0


@pytest.mark.parametrize(
    ("event", "item"),
    [
        (CHANGE_EVENT, {"TemplateId": LONG, "SubscribeStatusString": "reject"}),
        (SENT_EVENT, {"TemplateId": LONG, "ErrorCode": "43101"}),
    ],
)
def test_pushed_events_revoke_a_long_term_consent(app_ctx, long_term, event, item):
    person = _person("o-events")
    grant_consent(person.id, LONG)
    assert apply_subscription_event("o-events", event, [item]) == 1
    assert remaining_consent(person.id, LONG) == 0


@pytest.mark.parametrize("status", ["accept", "acceptWithAudio", "acceptWithAlert"])
def test_popup_event_accepts_count_in_every_form(app_ctx, long_term, status):
    person = _person("o-popup")
    items = [{"TemplateId": "TPL-ONCE", "SubscribeStatusString": status},
             {"TemplateId": LONG, "SubscribeStatusString": status}]
    assert apply_subscription_event("o-popup", POPUP_EVENT, items) == 2
    assert apply_subscription_event("o-popup", POPUP_EVENT, items) == 2
    assert remaining_consent(person.id, "TPL-ONCE") == 2
    assert remaining_consent(person.id, LONG) == 1


def test_a_grid_worker_hears_of_every_ticket_after_one_long_term_accept(client, app, wechat, long_term):
    """The whole loop: the worker accepts the long-term template once in the mini-program, then
    every ticket dispatched to them is pushed, not only the first."""
    with app.app_context():
        registry = make_registry()
        worker_headers = auth_headers(client, registry.workers[0])
        worker_id, worker_openid = registry.workers[0].id, registry.workers[0].openid
        codes = [registry.codes[building.id] for building in registry.buildings[:2]]
    answer = client.post(
        "/api/v1/subscriptions",
        json={"results": {"errMsg": "requestSubscribeMessage:ok", LONG: "acceptWithAlert"}},
        headers=worker_headers,
    )
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"remaining": {LONG: 1}, "ignored": []}
    wechat.add(responses.POST, SUBSCRIBE_SEND_URL, json={"errcode": 0, "errmsg": "ok"})
    wechat.add(  # the description's content check
        responses.POST, "https://api.weixin.qq.com/wxa/msg_sec_check",
        json={"errcode": 0, "errmsg": "ok", "result": {"suggest": "pass", "label": 100}},
    )
    resident = auth_headers(client, openid="resident-long-term")
    for index, code in enumerate(codes * 2):
        response = submit(client, resident, code, description=f"楼道灯坏了，第{index + 1}处，晚上很黑")
        assert response.status_code == 201, response.get_json()
    with app.app_context():
        counts = outbox.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1))
        to_worker = [s for s in sends(wechat) if s["touser"] == worker_openid]
        assert counts["sent"] >= 4
        assert len(to_worker) == 4 and {s["template_id"] for s in to_worker} == {LONG}
        assert remaining_consent(worker_id, LONG) == 1
