"""Reading WeChat's pushes and remembering the ones accepted (webapp.notifications.wechat_events),
and `flask maintenance purge`, which forgets them after a while."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.columns import utcnow
from webapp.extensions import db
from webapp.notifications import wechat_events as events
from webapp.notifications.models import WeChatPush


def _event(**fields) -> dict:
    return {"ToUserName": "gh_test", "FromUserName": "o-user", "CreateTime": "1700000000",
            "MsgType": "event", **fields}


# --- reading --------------------------------------------------------------------------------


def test_event_of_reads_events_only():
    assert events.event_of(_event(Event="wxa_media_check")) == "wxa_media_check"
    assert events.event_of({"MsgType": "text", "Content": "你好", "MsgId": "1"}) == ""
    assert events.event_of({"MsgType": "EVENT", "Event": " user_info_modified "}) == "user_info_modified"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"trace_id": "t1", "version": 2, "result": {"suggest": "risky", "label": 20002}}, ("t1", "risky")),
        ({"trace_id": "t1", "result": {"suggest": "pass", "label": 100}}, ("t1", "pass")),
        ({"trace_id": "t1", "errcode": 87014, "errmsg": "fail"}, ("t1", "review")),  # no verdict
        ({"trace_id": "t1", "result": {"suggest": "odd"}}, ("t1", "review")),
        ({"trace_id": "t1", "isrisky": "1"}, ("t1", "risky")),  # v1
        ({"trace_id": "t1", "isrisky": 0}, ("t1", "pass")),
    ],
)
def test_media_check_of_reads_the_verdict(message, expected):
    assert events.media_check_of(_event(Event="wxa_media_check", **message)) == expected


def test_authorization_openid_forgives_the_key_spelling_of_wechats_json_example():
    assert events.authorization_openid(_event(Event="user_authorization_revoke", OpenID="o-1")) == "o-1"
    assert events.authorization_openid({" OpenID": " o-2 ", " AppID": "wx"}) == "o-2"
    assert events.authorization_openid({"openid": "o-3"}) == "o-3"
    assert events.authorization_openid({"FromUserName": "o-platform"}) == ""


@pytest.mark.parametrize(
    ("container", "count"),
    [
        ({"List": {"TemplateId": "A", "SubscribeStatusString": "accept"}}, 1),
        ({"List": [{"TemplateId": "A"}, {"TemplateId": "B"}]}, 2),
        ([{"TemplateId": "A"}, {"TemplateId": "B"}], 2),
        ({"TemplateId": "A"}, 1),
        (None, 0),
    ],
)
def test_subscription_items_takes_one_entry_or_several(container, count):
    message = _event(Event="subscribe_msg_popup_event", SubscribeMsgPopupEvent=container)
    assert len(events.subscription_items(message, "subscribe_msg_popup_event")) == count


def test_subscription_items_from_a_top_level_list():
    message = _event(Event="subscribe_msg_sent_event", List={"TemplateId": "A", "ErrorCode": "0"})
    assert events.subscription_items(message, "subscribe_msg_sent_event") == [{"TemplateId": "A", "ErrorCode": "0"}]


# --- keys -----------------------------------------------------------------------------------


def test_push_key_is_wechats_rule_with_the_events_subject():
    popup = _event(Event="subscribe_msg_popup_event", SubscribeMsgPopupEvent={"List": {"TemplateId": "A"}})
    assert events.push_key(popup) == events.push_key(dict(popup, CreateTime=1700000000))  # XML vs JSON
    assert events.push_key(popup) != events.push_key(dict(popup, CreateTime="1700000001"))
    assert events.push_key(popup) != events.push_key(dict(popup, FromUserName="o-other"))
    # WeChat's own account sends every user's authorization change: the OpenID tells them apart.
    first = _event(Event="user_authorization_revoke", FromUserName="o-platform", OpenID="o-1")
    assert events.push_key(first) != events.push_key(dict(first, OpenID="o-2"))
    check = _event(Event="wxa_media_check", trace_id="t-1")
    assert events.push_key(check) != events.push_key(dict(check, trace_id="t-2"))
    # A message with MsgId: MsgId alone.
    text = {"MsgType": "text", "MsgId": "42", "CreateTime": "1", "FromUserName": "o"}
    assert events.push_key(text) == events.push_key(dict(text, CreateTime="2"))
    assert len(events.push_key({})) == 64


def test_query_key_is_one_per_signed_query_string():
    assert events.query_key("1", "n", "s") == events.query_key("1", "n", "s")
    assert events.query_key("1", "n", "s") != events.query_key("1", "n2", "s")
    assert events.query_key("1", "n", "s") != events.push_key({"MsgId": "1"})


# --- remembering and purging -------------------------------------------------------------------


def test_remember_push_once_per_key_and_only_if_committed(app_ctx):
    assert events.remember_push("k" * 64) is True
    assert events.remember_push("k" * 64) is False
    db.session.rollback()
    assert events.remember_push("k" * 64) is True
    db.session.commit()
    assert events.remember_push("k" * 64) is False
    db.session.rollback()


def test_purge_forgets_old_pushes_but_never_within_the_window(app_ctx, monkeypatch):
    now = utcnow()
    for key, age in (("old", timedelta(days=8)), ("young", timedelta(days=6)), ("new", timedelta(0))):
        events.remember_push(key, now=now - age)
    db.session.commit()
    assert events.purge_pushes(now=now) == 1
    assert set(db.session.scalars(select(WeChatPush.push_key))) == {"young", "new"}
    # Asked to keep less than twice the window (2 × 300 s), it keeps that much anyway.
    events.remember_push("minutes", now=now - timedelta(minutes=5))
    assert events.purge_pushes(timedelta(0), now=now) == 1  # "young" goes, "new" and "minutes" stay
    assert set(db.session.scalars(select(WeChatPush.push_key))) == {"new", "minutes"}
    monkeypatch.setitem(app_ctx.config, "WECHAT_PUSH_MAX_AGE_SECONDS", 60)
    assert events.purge_pushes(timedelta(0), now=now) == 1
    assert set(db.session.scalars(select(WeChatPush.push_key))) == {"new"}
    db.session.commit()


def test_flask_maintenance_purge(app_ctx, runner):
    now = utcnow()
    events.remember_push("ancient", now=now - timedelta(days=30))
    events.remember_push("recent", now=now - timedelta(days=2))
    db.session.commit()
    result = runner.invoke(args=["maintenance", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("wechat_pushes=1 ")
    result = runner.invoke(args=["maintenance", "purge", "--push-days", "1"])
    assert result.output.strip().startswith("wechat_pushes=1 ")
    db.session.expire_all()
    assert list(db.session.scalars(select(WeChatPush.push_key))) == []
