"""flask privacy purge: tickets closed longer ago than the retention lose their photos and
personal fields, keep their rows, events and everything the figures count (GET
/api/v1/work/stats answers exactly the same before and after); open or recent tickets are left
alone; expired sessions go; a second run finds nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import auth_headers, session_headers, submit, upload_photo
from tests.figures.seed import NOW, seed_month
from webapp.audit.models import AuditEntry
from webapp.columns import new_id, utcnow
from webapp.extensions import db
from webapp.people.models import AuthSession
from webapp.privacy import retention
from webapp.registry.models import TicketKind
from webapp.tickets.models import MeToo, Photo, Ticket, TicketEvent, TicketStatus

PERIODS = [
    {"from": "2026-09-01", "to": "2026-11-30"},
    {"from": "2026-09-01", "to": "2026-11-30", "kind": "wish"},
    {"from": "2026-11-01", "to": "2026-11-30", "kind": "report"},
]


@pytest.fixture
def month(app_ctx):
    return seed_month(tickets=70)


def _figures(client, month) -> list:
    answers = []
    for viewer in (month.admin, month.supervisors[0]):
        headers = session_headers(viewer)
        for query in PERIODS:
            response = client.get("/api/v1/work/stats", query_string=query, headers=headers)
            assert response.status_code == 200, response.get_json()
            figures = response.get_json()
            figures.pop("as_of")  # when they were computed, the only field that may differ
            answers.append(figures)
    return answers


def _closed_report_with_everything(client, month) -> str:
    """A report through the API: a contact phone, photos before and after, a neighbour's me-too,
    a rating with a comment; then made to look closed long ago."""
    registry = month.registry
    resident = auth_headers(client, openid="privacy-reporter")
    photo = upload_photo(client, resident)
    ticket_id = submit(client, resident, registry.codes[registry.buildings[1].id], photo_ids=[photo],
                       contact_phone="13912345678", description="电话13912345678，楼道灯坏了").get_json()["id"]
    assert client.post(f"/api/v1/tickets/{ticket_id}/me-too", headers=auth_headers(client, openid="privacy-neighbour")).status_code == 200
    worker = auth_headers(client, month.workers[0])
    client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "accept"}, headers=worker)
    after = upload_photo(client, worker)
    client.post(f"/api/v1/tickets/{ticket_id}/actions", json={"action": "resolve", "note": "已换灯，有事打0530-5551234", "photo_ids": [after]}, headers=worker)
    rated = client.post(f"/api/v1/tickets/{ticket_id}/feedback", json={"resolved": True, "rating": 4, "comment": "我是3楼王阿姨"}, headers=resident)
    assert rated.get_json()["status"] == "closed"
    ticket = db.session.get(Ticket, ticket_id)
    ticket.closed_at = NOW - timedelta(days=2)
    db.session.commit()
    return ticket_id


def test_purge_removes_personal_fields_and_keeps_the_figures_exactly(client, runner, month):
    ticket_id = _closed_report_with_everything(client, month)
    photo_ids = set(db.session.scalars(select(Photo.id).where(Photo.ticket_id == ticket_id)))
    assert len(photo_ids) == 2
    open_ids = set(db.session.scalars(select(Ticket.id).where(Ticket.status.in_([TicketStatus.DISPATCHED, TicketStatus.ACCEPTED]))))
    closed_wish = db.session.scalars(select(Ticket.id).where(Ticket.kind == TicketKind.WISH, Ticket.status == TicketStatus.CLOSED)).first()
    before = _figures(client, month)
    days = (utcnow() - NOW) / timedelta(days=1) - 1 / 24  # the cutoff: an hour after the seeded month
    assert days > 0

    result = runner.invoke(args=["privacy", "purge", "--days", str(days)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("tickets=") and "photo_files=" in result.output

    db.session.expire_all()
    assert _figures(client, month) == before
    ticket = db.session.get(Ticket, ticket_id)
    assert (ticket.reporter_id, ticket.reporter_key, ticket.contact_phone, ticket.contact_phone_hash) == (None, None, None, None)
    assert (ticket.rating_comment, ticket.photo_ids, ticket.rating, ticket.status) == (None, [], 4, TicketStatus.CLOSED)
    assert ticket.description == f"电话{retention.REDACTED_PHONE}，楼道灯坏了" and ticket.me_too_count == 1
    events = db.session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)).all()
    assert len(events) == 4 and all(e.photo_ids == [] for e in events)
    assert all(e.actor_id is None for e in events if e.actor_role == "reporter")
    assert any(e.actor_id == month.workers[0].id for e in events)  # staff stay on the record
    assert "0530-5551234" not in " ".join(e.note or "" for e in events)
    assert db.session.scalar(select(func.count()).select_from(MeToo).where(MeToo.ticket_id == ticket_id)) == 0
    assert not set(db.session.scalars(select(Photo.id).where(Photo.id.in_(photo_ids))))
    worker = session_headers(month.workers[0])
    assert all(client.get(f"/api/v1/photos/{p}", headers=worker).status_code == 404 for p in photo_ids)
    assert db.session.get(Ticket, closed_wish).description == retention.REMOVED_TEXT
    assert db.session.get(Ticket, closed_wish).reporter_id is None
    # Open tickets keep their reporter: only finished ones are purged.
    assert all(db.session.get(Ticket, i).reporter_id is not None for i in open_ids)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "personal_data_purged")).one()
    assert entry.detail["tickets"] >= 2

    again = runner.invoke(args=["privacy", "purge", "--days", str(days)])
    assert again.output.startswith("tickets=0 photo_files=0")


def test_purge_keeps_tickets_closed_within_the_retention(client, runner, month):
    ticket_id = _closed_report_with_everything(client, month)
    db.session.get(Ticket, ticket_id).closed_at = utcnow() - timedelta(days=10)
    db.session.commit()
    result = runner.invoke(args=["privacy", "purge"])  # PERSONAL_DATA_RETENTION_DAYS: 365
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket_id)
    assert ticket.contact_phone == "13912345678" and ticket.reporter_id is not None and len(ticket.photo_ids) == 1


def test_purge_deletes_expired_sessions(app_ctx, runner, registry):
    now = utcnow()
    for days in (40, 1):
        db.session.add(AuthSession(token_hash=(new_id() * 3)[:64], person_id=registry.workers[0].id,
                                   created_at=now - timedelta(days=days + 7), expires_at=now - timedelta(days=days)))
    db.session.commit()
    result = runner.invoke(args=["privacy", "purge"])
    assert result.exit_code == 0 and result.output.strip().endswith("sessions=1")
    assert db.session.scalar(select(func.count()).select_from(AuthSession)) == 1


def test_phone_numbers_in_free_text_are_redacted(app_ctx):
    text = "请联系13912345678或+86 139-1234-5678，座机0530-5551234，门牌12号，工单JY-20261122-0042"
    assert retention.redact_phones(text) == (
        f"请联系{retention.REDACTED_PHONE}或{retention.REDACTED_PHONE}，座机{retention.REDACTED_PHONE}，门牌12号，工单JY-20261122-0042"
    )
