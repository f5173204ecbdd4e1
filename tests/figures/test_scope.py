"""The scope of the figures is never more than who-sees-what gives the viewer: every report a
viewer's figures count is one access.in_staff_scope lets them see; a wish is counted only for
staff of its place (as a number) or its readers; a place outside the scope is NotFound."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.figures.seed import seed_month
from webapp.errors import Forbidden, NotFound
from webapp.extensions import db
from webapp.figures.scope import resolve_scope
from webapp.people.actors import load_actor
from webapp.tickets import access
from webapp.tickets.models import Ticket


@pytest.fixture
def month(app_ctx):
    return seed_month(tickets=60)


def _viewers(month):
    people = [month.admin, month.street_staff, *month.supervisors, *month.workers, month.registry.professional]
    return [load_actor(p.id) for p in people]


def test_scope_counts_no_report_the_viewer_may_not_see(month):
    tickets = db.session.scalars(select(Ticket)).all()
    for actor in _viewers(month):
        scope = resolve_scope(actor)
        counted = set(db.session.scalars(select(Ticket.id).where(scope.condition)))
        for ticket in tickets:
            if ticket.id not in counted:
                continue
            if ticket.kind.value == "report":
                assert access.in_staff_scope(actor, ticket), (actor.name, ticket.number)
            else:  # a wish: its readers, or staff whose place covers it (a number only)
                assert (
                    access.in_staff_scope(actor, ticket) or actor.is_admin
                    or ticket.street_id in actor.street_ids or ticket.community_id in actor.community_ids
                    or ticket.grid_id in actor.grid_ids
                ), (actor.name, ticket.number)


def test_scope_place_staff_count_every_report_of_their_places(month):
    for actor in _viewers(month):
        if not (actor.is_admin or actor.street_ids or actor.community_ids or actor.grid_ids):
            continue
        counted = set(db.session.scalars(select(Ticket.id).where(resolve_scope(actor).condition)))
        for ticket in db.session.scalars(select(Ticket)):
            by_place = (
                actor.is_admin or ticket.street_id in actor.street_ids
                or ticket.community_id in actor.community_ids or ticket.grid_id in actor.grid_ids
            )
            if by_place:
                assert ticket.id in counted


def test_scope_a_professional_counts_their_categories_in_their_grids(month):
    actor = load_actor(month.registry.professional.id)
    scope = resolve_scope(actor)
    assert scope.place.level == "mine" and {p.level for p in scope.children} == {"grid"}
    kinds = set(db.session.execute(select(Ticket.kind, Ticket.category_id).where(scope.condition)).all())
    assert kinds and all(k.value == "report" and c == month.registry.categories["elevator"].id for k, c in kinds)


def test_scope_outside_is_not_found_and_residents_are_forbidden(month):
    worker = load_actor(month.workers[0].id)
    with pytest.raises(NotFound):
        resolve_scope(worker, grid_id=month.grids[1].id)
    with pytest.raises(NotFound):
        resolve_scope(worker, community_id=month.communities[0].id)
    with pytest.raises(Forbidden):
        resolve_scope(load_actor(month.resident.id))
