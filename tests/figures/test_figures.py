"""Every figure of GET /api/v1/work/stats against a count made here straight from the event rows.

A month of tickets over two communities (tests/figures/seed.py) lives through the state machine.
The count below reads the ticket_events table (and, for who sees what, each ticket's place and
kind; the score of a rating, which no event holds, from the ticket): it rebuilds each ticket's
deadlines from its dispatches and reopens and the categories' hours, decides every definition
in plain Python, and groups by hand. It never calls webapp.figures.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.factories import session_headers
from tests.figures.seed import BEIJING, NOW, PERIOD, seed_month
from webapp.extensions import db
from webapp.registry.models import Category
from webapp.tickets.models import Ticket, TicketEvent

UNDO_ACCEPT = {"return", "reassign", "reopen", "unassign"}


@dataclass
class Life:
    """One ticket as its events tell it."""

    id: str
    kind: str
    category_id: int
    building_id: int
    grid_id: int
    community_id: int
    created_at: datetime
    status: str
    excluded: bool
    accepted_at: datetime | None  # the acceptance that stands
    resolved_at: datetime | None  # the resolution that stands
    ever_resolved: bool
    reopened: int
    accept_due: datetime | None
    resolve_due: datetime | None
    confirmed: bool
    closed_at: datetime | None
    rating: int | None


def _aware(value):
    return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)


def lives() -> list[Life]:
    hours = {c.id: (c.accept_hours, c.resolve_hours) for c in db.session.scalars(select(Category))}
    events: dict[str, list] = {}
    for event in db.session.execute(select(TicketEvent).order_by(TicketEvent.id)).scalars():
        events.setdefault(event.ticket_id, []).append(event)
    out = []
    for ticket in db.session.scalars(select(Ticket)):
        timeline = events[ticket.id]
        submit = timeline[0]
        assert submit.action == "submit"
        accepted = resolved = clock = closed = None
        ever_resolved = confirmed = excluded = False
        reopened = 0
        for e in timeline:
            at = _aware(e.at)
            if e.action == "accept":
                accepted = at
            elif e.action in UNDO_ACCEPT:
                accepted = None
            if e.action == "resolve":
                resolved, ever_resolved = at, True
            if e.action == "reopen":
                resolved, reopened, clock = None, reopened + 1, at  # a new round: a new clock
            elif clock is None and e.to_status == "dispatched":
                clock = at  # the first dispatch starts the clock
            if e.action in ("reject", "merge"):
                excluded = True
            if e.action in ("confirm", "auto_close"):
                closed, confirmed = at, e.action == "confirm"
        accept_hours, resolve_hours = hours[ticket.category_id]
        life = Life(
            id=ticket.id, kind=ticket.kind.value, category_id=ticket.category_id,
            building_id=ticket.building_id, grid_id=ticket.grid_id, community_id=ticket.community_id,
            created_at=_aware(submit.at), status=timeline[-1].to_status, excluded=excluded,
            accepted_at=accepted, resolved_at=resolved, ever_resolved=ever_resolved, reopened=reopened,
            accept_due=clock + timedelta(hours=accept_hours) if clock else None,
            resolve_due=clock + timedelta(hours=resolve_hours) if clock else None,
            confirmed=confirmed, closed_at=closed, rating=ticket.rating if confirmed else None,
        )
        out.append(life)
    return out


def counts(group: list[Life], now: datetime) -> dict:
    c = dict.fromkeys(
        ["accepted_on_time", "due_for_acceptance", "resolved_on_time", "due_for_resolution",
         "rated", "satisfied", "overdue_now", "closed"], 0)
    hours = []
    for t in group:
        if not t.excluded:
            if t.accepted_at and t.accept_due and t.accepted_at <= t.accept_due:
                c["accepted_on_time"] += 1
            if t.accepted_at or (t.accept_due and t.accept_due < now):
                c["due_for_acceptance"] += 1
            if not t.reopened and t.resolved_at and t.resolve_due and t.resolved_at <= t.resolve_due:
                c["resolved_on_time"] += 1
            if t.ever_resolved or (t.resolve_due and t.resolve_due < now):
                c["due_for_resolution"] += 1
            if t.confirmed:
                c["rated"] += 1
                c["satisfied"] += t.rating >= 4
        if (t.status in ("pending", "dispatched") and t.accept_due and t.accept_due < now) or (
            t.status == "accepted" and t.resolve_due < now
        ):
            c["overdue_now"] += 1
        if t.status == "closed":
            c["closed"] += 1
            hours.append((t.closed_at - t.created_at).total_seconds() / 3600)
    ratio = lambda a, b: c[a] / c[b] if c[b] else None  # noqa: E731
    return {
        "tickets_in": len(group), **c,
        "response_rate": ratio("accepted_on_time", "due_for_acceptance"),
        "on_time_closure_rate": ratio("resolved_on_time", "due_for_resolution"),
        "satisfaction_rate": ratio("satisfied", "rated"),
        "avg_hours_to_close": sum(hours) / len(hours) if hours else None,
        "median_hours_to_close": statistics.median(hours) if hours else None,
    }


def in_period(t: Life) -> bool:
    day = t.created_at.astimezone(BEIJING).date()
    return PERIOD[0] <= day < PERIOD[1]


def monday(t: Life):
    day = t.created_at.astimezone(BEIJING).date()
    return day - timedelta(days=day.weekday())


def assert_same(api: dict, expected: dict, where: str) -> None:
    for name, value in expected.items():
        got = api[name]
        if name.endswith("hours_to_close") and value is not None:
            assert got == pytest.approx(value, abs=0.006), f"{where}: {name}"
        else:
            assert got == value, f"{where}: {name} is {got}, counted {value}"


@pytest.fixture
def month(app_ctx, monkeypatch):
    from webapp.figures import compute

    monkeypatch.setattr(compute, "utcnow", lambda: NOW)
    return seed_month()


def _stats(client, person, **params):
    query = {"from": PERIOD[0].isoformat(), "to": PERIOD[1].isoformat(), **params}
    response = client.get("/api/v1/work/stats", query_string=query, headers=session_headers(person))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_figures_the_columns_the_figures_read_agree_with_the_events(month):
    """What the aggregate reads of each ticket (webapp/figures/definitions.py) is what its
    events say: the acceptance and resolution that stand, the reopens, the rating, the close,
    the deadlines of the current round."""
    by_id = {t.id: t for t in lives()}
    for ticket in db.session.scalars(select(Ticket)):
        life = by_id[ticket.id]
        assert _aware(ticket.accepted_at) == life.accepted_at, ticket.number
        assert _aware(ticket.resolved_at) == life.resolved_at, ticket.number
        assert ticket.reopen_count == life.reopened
        assert (life.ever_resolved) == (ticket.resolved_at is not None or ticket.reopen_count > 0)
        assert ticket.status.value == life.status
        assert (ticket.status.value in ("rejected", "merged")) == life.excluded
        assert _aware(ticket.accept_due_at) == life.accept_due and _aware(ticket.resolve_due_at) == life.resolve_due
        assert (ticket.status.value == "closed" and ticket.rating is not None) == life.confirmed
        if ticket.status.value == "closed":
            assert _aware(ticket.closed_at) == life.closed_at
        assert _aware(ticket.created_at) == life.created_at


def test_figures_the_seed_covers_every_case(month):
    """The month holds what the definitions tell apart (else the comparison below proves little)."""
    period = [t for t in lives() if in_period(t)]
    c = counts(period, NOW)
    assert {t.kind for t in period} == {"report", "wish"}
    assert {t.status for t in period} >= {"pending", "dispatched", "accepted", "resolved", "closed", "rejected", "merged"}
    assert 0 < c["accepted_on_time"] < c["due_for_acceptance"]
    assert 0 < c["resolved_on_time"] < c["due_for_resolution"]
    assert 0 < c["satisfied"] < c["rated"] < c["closed"]  # unrated (auto-closed) ones too
    assert c["overdue_now"] > 0 and any(t.reopened for t in period)
    assert any(t.accept_due is None for t in period)  # never dispatched


@pytest.mark.parametrize("kind", [None, "report", "wish"])
def test_figures_street_staff_every_figure_as_counted_from_the_events(month, client, kind):
    """The street's figures, its communities, categories and weeks: every field equals the
    count made from the events; wishes are counted for street staff but never listed."""
    params = {"kind": kind} if kind else {}
    api = _stats(client, month.street_staff, **params)
    chosen = [t for t in lives() if in_period(t) and (kind is None or t.kind == kind)]
    assert api["scope"] == {"level": "street", "id": month.registry.street.id, "name": "凤凰街道"}
    assert api["period"] == {"from": "2026-11-01", "to": "2026-11-29"}
    assert_same(api, counts(chosen, NOW), "street")
    children = {row["id"]: row for row in api["by_child"]}
    assert [row["name"] for row in api["by_child"]] == ["幸福社区", "和平社区"]
    for community in month.communities:
        assert_same(children[community.id], counts([t for t in chosen if t.community_id == community.id], NOW), community.name)
    categories = {row["id"]: row for row in api["by_category"]}
    assert set(categories) == {t.category_id for t in chosen}
    for category_id, row in categories.items():
        assert_same(row, counts([t for t in chosen if t.category_id == category_id], NOW), row["name"])
    weeks = {row["week_start"]: row for row in api["weekly"]}
    assert list(weeks)[0] == "2026-10-26" and list(weeks)[-1] == "2026-11-23"
    for start, row in weeks.items():
        assert_same(row, counts([t for t in chosen if monday(t).isoformat() == start], NOW), start)
    _check_hotspots(api["hotspots"], [t for t in lives() if kind is None or t.kind == kind], wishes_shown=False)


def test_figures_community_and_grid_as_counted_from_the_events(month, client):
    """A community's staff (also its wish reader) open their community and one of its grids."""
    community = month.communities[1]
    staff = month.supervisors[1]
    api = _stats(client, staff)  # their own scope: the community
    chosen = [t for t in lives() if in_period(t) and t.community_id == community.id]
    assert api["scope"]["level"] == "community" and api["scope"]["id"] == community.id
    assert_same(api, counts(chosen, NOW), "community")
    for row in api["by_child"]:
        assert_same(row, counts([t for t in chosen if t.grid_id == row["id"]], NOW), row["name"])
    assert [row["id"] for row in api["by_child"]] == [g.id for g in month.grids[2:]]
    _check_hotspots(api["hotspots"], [t for t in lives() if t.community_id == community.id], wishes_shown=True)
    grid = month.grids[2]
    api = _stats(client, staff, grid_id=grid.id)
    assert api["scope"]["level"] == "grid" and api["by_child"] == []
    assert [p["level"] for p in api["path"]] == ["community"]  # not the street: not theirs
    assert_same(api, counts([t for t in chosen if t.grid_id == grid.id], NOW), "grid")


def test_figures_grid_worker_sees_their_grid_only(month, client):
    worker = month.workers[0]
    api = _stats(client, worker)
    grid = month.grids[0]
    assert api["scope"]["level"] == "grid" and api["scope"]["id"] == grid.id
    assert_same(api, counts([t for t in lives() if in_period(t) and t.grid_id == grid.id], NOW), "grid")
    assert {h["building"]["grid_id"] for h in api["hotspots"]} <= {grid.id}


def _check_hotspots(hotspots: list[dict], population: list[Life], *, wishes_shown: bool) -> None:
    """Counted by hand: per building × category, the tickets of the period and the distinct
    weeks of the 13 ending with the week of the period's last day."""
    last_monday = PERIOD[1] - timedelta(days=1)
    last_monday -= timedelta(days=last_monday.weekday())
    recur_start = last_monday - timedelta(weeks=12)
    pairs: dict[tuple, dict] = {}
    for t in population:
        if t.kind == "wish" and not wishes_shown:
            continue
        day = t.created_at.astimezone(BEIJING).date()
        if not (min(recur_start, PERIOD[0]) <= day < PERIOD[1]):
            continue
        pair = pairs.setdefault((t.building_id, t.category_id), {"count": 0, "weeks": set(), "latest": None})
        pair["count"] += in_period(t)
        if day >= recur_start:
            pair["weeks"].add(monday(t))
        if pair["latest"] is None or t.created_at > pair["latest"][0]:
            pair["latest"] = (t.created_at, t.id)
    expected = {k: v for k, v in pairs.items() if v["count"] > 0 or len(v["weeks"]) >= 3}
    if not expected:  # wishes only, to a viewer who does not read them
        assert hotspots == []
        return
    assert any(h["recurring"] for h in hotspots)
    for h in hotspots:
        pair = expected[(h["building"]["id"], h["category"]["id"])]
        assert h["count"] == pair["count"] and h["weeks"] == len(pair["weeks"])
        assert h["recurring"] == (len(pair["weeks"]) >= 3)
        assert h["latest_ticket_id"] == pair["latest"][1]
    top = sorted((v["count"] for v in expected.values()), reverse=True)[: len(hotspots)]
    assert [h["count"] for h in hotspots][: len(top)][0] == top[0]  # the biggest pair is first
    if not wishes_shown:
        assert all(h["category"]["code"] != "wish" for h in hotspots)
