"""The daily rollup (webapp/figures/rollup.py): the figures are the same whether a settled
ticket is read from the rollup or from its own columns, the rollup agrees with a recount,
and a ticket is rolled up only when none of its figures can change any more."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from tests.factories import session_headers
from tests.figures.seed import NOW, PERIOD, seed_month
from webapp.extensions import db
from webapp.figures import rollup
from webapp.figures.models import FiguresDaily
from webapp.tickets.models import Ticket, TicketStatus


@pytest.fixture
def month(app_ctx, monkeypatch):
    from webapp.figures import compute

    monkeypatch.setattr(compute, "utcnow", lambda: NOW)
    monkeypatch.setattr(rollup, "utcnow", lambda: NOW)
    return seed_month()


def _all_views(client, month) -> list[dict]:
    """The figures of every scope the seed has: the street (reports, wishes, both), each
    community, each grid, the admin's everything."""
    period = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat()}
    asks = [(month.street_staff, {}), (month.street_staff, {"kind": "report"}), (month.street_staff, {"kind": "wish"}),
            (month.admin, {})]
    asks += [(month.admin, {"community_id": c.id}) for c in month.communities]
    asks += [(month.admin, {"grid_id": g.id}) for g in month.grids]
    views = []
    for person, extra in asks:
        response = client.get("/api/v1/work/stats", query_string={**period, **extra}, headers=session_headers(person))
        assert response.status_code == 200, response.get_json()
        views.append(response.get_json())
    return views


def _forget_rollup() -> None:
    db.session.execute(delete(FiguresDaily))
    db.session.execute(update(Ticket).values(rolled_up=False))
    db.session.commit()


def test_rollup_transitions_roll_up_the_settled_and_the_figures_do_not_depend_on_it(month, client):
    settled = db.session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.in_(("closed", "rejected", "merged")))
    )
    rolled = db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.rolled_up.is_(True)))
    open_rolled = db.session.scalar(
        select(func.count()).select_from(Ticket)
        .where(Ticket.rolled_up.is_(True), Ticket.status.notin_(("closed", "rejected", "merged")))
    )
    assert settled > 20 and rolled == settled and open_rolled == 0  # each at its closing action
    assert db.session.scalar(select(func.sum(FiguresDaily.tickets_in))) == settled
    with_rollup = _all_views(client, month)

    _forget_rollup()  # every ticket read live, from its columns
    live_only = _all_views(client, month)
    assert live_only == with_rollup

    assert rollup.roll_up(NOW, batch=7) == settled  # the daily command, in small batches
    assert _all_views(client, month) == with_rollup
    assert rollup.roll_up(NOW) == 0  # nothing twice


def test_rollup_recount_finds_and_repairs_a_row_that_differs(month, client):
    before = _all_views(client, month)
    assert rollup.recount().differing == []
    row = db.session.scalars(
        select(FiguresDaily).where(FiguresDaily.closed > 0, FiguresDaily.day >= PERIOD[0], FiguresDaily.day < PERIOD[1])
        .limit(1)
    ).one()
    key = (row.street_id, row.day, row.community_id, row.grid_id, row.category_id, row.kind.value)
    row.closed += 5
    row.satisfied = 0
    stray = FiguresDaily(street_id=row.street_id, day=row.day - timedelta(days=400), community_id=row.community_id,
                         grid_id=row.grid_id, category_id=row.category_id, kind=row.kind, tickets_in=3,
                         accepted_on_time=0, due_for_acceptance=0, resolved_on_time=0, due_for_resolution=0,
                         rated=0, satisfied=0, closed=0, hours_to_close=0.0)
    db.session.add(stray)
    stray_key = (row.street_id, stray.day, row.community_id, row.grid_id, row.category_id, row.kind)
    db.session.commit()
    assert _all_views(client, month) != before  # the figures do read the rollup

    found = rollup.recount()
    assert set(found.differing) == {key, (*stray_key[:-1], key[-1])} and not found.repaired
    assert rollup.recount(repair=True).repaired
    assert rollup.recount().differing == []
    assert db.session.get(FiguresDaily, stray_key) is None
    assert _all_views(client, month) == before


def test_rollup_waits_until_a_closed_ticket_cannot_change(month, client, monkeypatch):
    """A closed ticket never accepted whose accept deadline is still ahead becomes due for
    acceptance only when the deadline passes: it stays live until then, and rolling it up
    afterwards changes no figure."""
    from webapp.figures import compute

    _forget_rollup()
    ticket = db.session.scalars(
        select(Ticket).where(Ticket.status == TicketStatus.CLOSED).order_by(Ticket.created_at.desc()).limit(1)
    ).one()
    ticket.accepted_at = None
    ticket.accept_due_at = NOW + timedelta(hours=3)
    db.session.commit()
    rollup.roll_up(NOW)
    assert ticket.rolled_up is False  # at NOW its due_for_acceptance can still change

    later = NOW + timedelta(hours=4)
    monkeypatch.setattr(compute, "utcnow", lambda: later)
    monkeypatch.setattr(rollup, "utcnow", lambda: later)
    live = _all_views(client, month)
    rollup.roll_up(later)
    db.session.refresh(ticket)
    assert ticket.rolled_up is True
    assert _all_views(client, month) == live
    assert rollup.recount().differing == []


def test_rollup_commands(month, runner):
    _forget_rollup()
    out = runner.invoke(args=["figures", "rollup"])
    assert out.exit_code == 0, out.output
    assert "rolled_up=" in out.output and "rows_differing=0" in out.output
    assert int(out.output.split("rolled_up=")[1].split()[0]) > 20
    row = db.session.scalars(select(FiguresDaily).limit(1)).one()
    row.tickets_in += 1
    db.session.commit()
    checked = runner.invoke(args=["figures", "check"])
    assert checked.exit_code == 1 and "rows_differing=1" in checked.output and "differs: street=" in checked.output
    repaired = runner.invoke(args=["figures", "check", "--repair"])
    assert repaired.exit_code == 0 and "(repaired)" in repaired.output
    assert runner.invoke(args=["figures", "check"]).exit_code == 0
