"""WeChat's verdicts on photos (webapp.tickets.photos.record_media_check and claim_photos): kept
whenever they come, acting on the photo at once and on its ticket when it has one."""
from __future__ import annotations

import pytest

from tests.factories import auth_headers, make_registry, submit, upload_photo
from webapp.extensions import db
from webapp.people.actors import load_actor
from webapp.people.models import Person
from webapp.tickets import photos
from webapp.tickets.models import Photo, Ticket
from webapp.tickets.presenter import TicketPresenter


@pytest.fixture
def registry(app_ctx):
    return make_registry()


@pytest.fixture
def reporter(client, registry):
    return auth_headers(client, openid="o-verdicts")


def _photo(client, headers, trace_id: str | None) -> str:
    photo_id = upload_photo(client, headers)
    db.session.get(Photo, photo_id).check_trace_id = trace_id
    db.session.commit()
    return photo_id


def _ticket(client, registry, headers, photo_ids) -> Ticket:
    response = submit(client, headers, registry.codes[registry.buildings[0].id], photo_ids=photo_ids)
    assert response.status_code == 201, response.get_json()
    return db.session.get(Ticket, response.get_json()["id"])


def test_a_verdict_before_the_ticket_is_kept_on_the_photo(client, registry, reporter):
    risky = _photo(client, reporter, "t-risky")
    review = _photo(client, reporter, "t-review")
    assert photos.record_media_check("t-risky", "risky") == [risky]
    assert photos.record_media_check("t-review", "review") == [review]
    db.session.commit()
    assert (db.session.get(Photo, risky).check_verdict, db.session.get(Photo, risky).is_hidden) == ("risky", True)
    assert (db.session.get(Photo, review).check_verdict, db.session.get(Photo, review).is_hidden) == ("review", False)


def test_claiming_a_flagged_photo_holds_the_ticket_without_a_new_version(client, registry, reporter):
    plain = _ticket(client, registry, reporter, [_photo(client, reporter, "t-none")])
    assert plain.needs_review is False
    flagged = _photo(client, reporter, "t-flag")
    photos.record_media_check("t-flag", "review")
    db.session.commit()
    ticket = _ticket(client, registry, reporter, [flagged])
    assert ticket.needs_review is True and ticket.version == 1


def test_a_verdict_after_the_ticket_holds_the_ticket_in_the_session_at_once(client, registry, reporter):
    photo_id = _photo(client, reporter, "t-late")
    ticket = _ticket(client, registry, reporter, [photo_id])
    version = ticket.version
    photos.record_media_check("t-late", "risky")
    assert ticket.needs_review is True and ticket.version == version  # no reload, no conflict
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).needs_review is True


def test_pass_never_shows_a_hidden_photo_again_and_an_odd_verdict_is_review(client, registry, reporter):
    photo_id = _photo(client, reporter, "t-hidden")
    db.session.get(Photo, photo_id).is_hidden = True  # e.g. hidden by an earlier verdict
    photos.record_media_check("t-hidden", "pass")
    assert db.session.get(Photo, photo_id).is_hidden is True
    photos.record_media_check("t-hidden", "maybe")
    assert db.session.get(Photo, photo_id).check_verdict == "review"
    assert photos.record_media_check("", "risky") == []
    assert photos.record_media_check("t-unknown", "risky") == []
    db.session.rollback()


def test_the_detail_lists_a_hidden_photo_to_staff_in_scope_only(client, registry, reporter):
    kept, hidden = _photo(client, reporter, None), _photo(client, reporter, "t-detail")
    ticket = _ticket(client, registry, reporter, [kept, hidden])
    photos.record_media_check("t-detail", "risky")
    db.session.commit()
    assert photos.hidden_photo_ids([kept, hidden]) == {hidden}
    resident = db.session.query(Person.id).filter_by(openid="o-verdicts").scalar()
    assert TicketPresenter(load_actor(resident)).detail(ticket)["photo_ids"] == [kept]
    worker = load_actor(registry.workers[0].id)
    assert TicketPresenter(worker).detail(ticket)["photo_ids"] == [kept, hidden]
