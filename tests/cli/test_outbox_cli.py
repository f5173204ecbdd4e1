"""flask outbox drain / recent / requeue, in the demo (no WeChat): messages go to the log."""
from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_person
from webapp.extensions import db
from webapp.notifications import outbox
from webapp.notifications.models import OutboxMessage, OutboxState


def _queue(count: int) -> list[int]:
    person = make_person("居民甲")
    ids = [outbox.enqueue(person.id, "ticket_resolved", data={"note": f"第{n}条"}).id for n in range(count)]
    db.session.commit()
    return ids


def test_drain_once_delivers_due_messages_to_the_log(app_ctx, runner):
    ids = _queue(3)
    result = runner.invoke(args=["outbox", "drain", "--once", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "sent=2" in result.output
    db.session.expire_all()
    states = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.state)).all())
    assert sorted(states.values()) == sorted([OutboxState.SENT, OutboxState.SENT, OutboxState.QUEUED])
    assert set(states) == set(ids)


def test_drain_with_max_seconds_empties_the_queue_and_stops(app_ctx, runner):
    import time

    _queue(5)
    started = time.monotonic()
    result = runner.invoke(args=["outbox", "drain", "--batch", "2", "--max-seconds", "1.5", "--idle-seconds", "0.1"])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5
    assert "total: claimed=5" in result.output
    db.session.expire_all()
    assert {m.state for m in outbox.recent_messages(10)} == {OutboxState.SENT}


def test_recent_and_requeue(app_ctx, runner):
    [message_id] = _queue(1)
    runner.invoke(args=["outbox", "drain", "--once"])
    listed = runner.invoke(args=["outbox", "recent"])
    assert f"{message_id}\tsent\tticket_resolved" in listed.output
    missing = runner.invoke(args=["outbox", "requeue", "999999"])
    assert missing.exit_code != 0 and "未找到该消息" in missing.output
