"""The submission's two ways of writing a ticket: PostgreSQL's one statement (filing.
routed_statement: the facts, routing, number, ticket, event and notice together) and the steps
any database can take (facts, then filing.file_ticket). They write the same rows, and the
assignee's notice carries the ticket's number, fitted to its template, either way."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import delete, select

from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.extensions import db
from webapp.notifications.models import OutboxMessage
from webapp.people.actors import Actor
from webapp.people.models import Rider, RiderStatus
from webapp.tickets import submission
from webapp.tickets.models import IdempotencyRecord, Ticket, TicketEvent

NOW = datetime(2026, 11, 30, 2, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture
def registry(app_ctx):
    made = make_registry()
    db.session.commit()
    return made


def _notice(ticket_id: str) -> OutboxMessage:
    (message,) = db.session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id)).all()
    return message


def test_the_assignees_notice_carries_the_tickets_number(client, registry):
    resident = auth_headers(client, openid="resident-n")
    response = submit(client, resident, registry.codes[registry.buildings[0].id])
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    message = _notice(created["id"])
    assert message.person_id == registry.workers[0].id
    assert message.payload["data"]["character_string1"] == {"value": created["number"]}
    assert message.payload["data"]["thing5"] == {"value": "您有新的工单，请及时处理"}
    assert message.payload["page"].endswith(created["id"])


def test_a_template_that_shows_the_place_gets_it(client, registry, monkeypatch):
    """The statement cannot fit a place's name: the notice is written after the rows, in the
    same transaction, with every value fitted."""
    fields = {"character_string1": "number", "thing2": "place", "phrase3": "status"}
    monkeypatch.setitem(client.application.config, "WECHAT_TEMPLATES", {"ticket_dispatched": {"id": "T-P", "fields": fields}})
    resident = auth_headers(client, openid="resident-p")
    response = submit(client, resident, registry.codes[registry.buildings[0].id])
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    message = _notice(created["id"])
    assert (message.template_id, message.person_id) == ("T-P", registry.workers[0].id)
    assert message.payload["data"] == {
        "character_string1": {"value": created["number"]},
        "thing2": {"value": "1区1号楼"},
        "phrase3": {"value": "已派单"},
    }


def test_a_street_prefix_a_notice_cannot_show_as_it_is(client, registry):
    """A character_string keeps ASCII only: the notice shows the number fitted (the statement
    leaves such a notice to Python), the ticket keeps it whole."""
    registry.street.ticket_prefix = "巨野"
    db.session.commit()
    resident = auth_headers(client, openid="resident-q")
    response = submit(client, resident, registry.codes[registry.buildings[0].id])
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["number"].startswith("巨野-") and created["number"].endswith("-0001")
    shown = _notice(created["id"]).payload["data"]["character_string1"]["value"]
    assert shown == created["number"].removeprefix("巨野")


def _rows(ticket_id: str) -> tuple[dict, dict, dict | None]:
    ticket = dict(db.session.execute(select(Ticket.__table__).where(Ticket.id == ticket_id)).mappings().one())
    event = dict(
        db.session.execute(select(TicketEvent.__table__).where(TicketEvent.ticket_id == ticket_id)).mappings().one()
    )
    message = db.session.execute(
        select(OutboxMessage.__table__).where(OutboxMessage.ticket_id == ticket_id)
    ).mappings().one_or_none()
    return ticket, event, dict(message) if message is not None else None


def _forget(ticket_id: str) -> None:
    """The rows of a ticket gone, so that the next one is no duplicate of it."""
    for table, column in (
        (OutboxMessage, OutboxMessage.ticket_id), (TicketEvent, TicketEvent.ticket_id),
        (IdempotencyRecord, IdempotencyRecord.ticket_id), (Ticket, Ticket.id),
    ):
        db.session.execute(delete(table).where(column == ticket_id))
    db.session.commit()


# Differ by design: keys, the day's running number, the sealed phone's random IV.
DIFFERENT = {"id", "number", "contact_phone", "ticket_id"}


@pytest.mark.postgres
@pytest.mark.parametrize(
    "case",
    ["grid_worker", "department", "unrouted", "anonymous_wish", "own_grid", "rider", "duplicate"],
)
def test_one_statement_writes_the_rows_the_steps_write(registry, monkeypatch, case):
    monkeypatch.setattr(submission, "utcnow", lambda: NOW)
    building = registry.buildings[0]
    reporter = make_person("王居民", "13900002222")
    kind, category, anonymous = "report", "light", False
    if case == "department":
        category = "elevator"
    elif case == "unrouted":
        registry.workers[0].is_away = True
    elif case == "anonymous_wish":
        kind, category, anonymous = "wish", "wish", True
    elif case == "own_grid":  # the grid's worker reports in their own grid: nobody is told
        reporter = registry.workers[0]
    elif case == "rider":  # an active rider's report is counted as one
        db.session.add(Rider(
            person_id=reporter.id, community_id=registry.community.id, name="小李", platform="美团",
            status=RiderStatus.ACTIVE,
        ))
    db.session.commit()
    given = submission.Submission(
        code=registry.codes[building.id], kind=kind, category=category,
        description="楼道里有电动车充电，很危险", unit="1单元", anonymous=anonymous,
        contact_phone=None if anonymous else "13900002222",
    )
    earlier = None
    if case == "duplicate":  # an open report of the same category at the building, this day
        earlier = submission.submit_ticket(Actor(person_id=reporter.id), given, "key-earlier").ticket.id
        db.session.commit()
    written = []
    for way in ("one statement", "steps"):
        if way == "steps":  # what SQLite does, here on PostgreSQL
            monkeypatch.setattr(submission, "_submit_in_one_statement", submission._submit_in_steps)
        filed = submission.submit_ticket(Actor(person_id=reporter.id), given, f"key-{case}-{way}")
        db.session.commit()
        assert filed.created
        written.append(_rows(filed.ticket.id))
        _forget(filed.ticket.id)
    (ticket, event, message), (ticket_2, event_2, message_2) = written
    assert ticket["is_rider_report"] == (case == "rider")
    assert ticket["duplicate_of_id"] == earlier
    assert {k: v for k, v in ticket.items() if k not in DIFFERENT} == {
        k: v for k, v in ticket_2.items() if k not in DIFFERENT
    }
    assert {k: v for k, v in event.items() if k not in DIFFERENT} == {
        k: v for k, v in event_2.items() if k not in DIFFERENT
    }
    assert (message is None) == (message_2 is None) == (case in {"unrouted", "anonymous_wish", "own_grid"})
    if message is not None:
        assert message["payload"]["data"]["character_string1"]["value"] == ticket["number"]
        assert message_2["payload"]["data"]["character_string1"]["value"] == ticket_2["number"]
        for shown in (message, message_2):
            shown["payload"]["data"].pop("character_string1")
        assert {k: v for k, v in message.items() if k not in DIFFERENT | {"id", "payload"}} == {
            k: v for k, v in message_2.items() if k not in DIFFERENT | {"id", "payload"}
        }
        assert message["payload"]["data"] == message_2["payload"]["data"]
