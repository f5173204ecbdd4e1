"""Routing rules (routing.decision_columns, decided in SQL over the facts) and the facts as the
submission reads them."""
from __future__ import annotations

import pytest
from sqlalchemy import Boolean, String, cast, literal, null, select

from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.extensions import db
from webapp.registry.models import Responsibility, TicketKind
from webapp.tickets import routing
from webapp.tickets.models import Ticket, TicketEvent

AT_WORK = ("p-at-work", False)
AWAY = ("p-away", True)
NOBODY = (None, None)
GONE = ("p-deleted", None)  # an id whose person no longer exists (the outer join finds nobody)


def facts(matrix=NOBODY, matrix_standin=NOBODY, worker=NOBODY, standin=NOBODY, reader=None):
    candidates = {"matrix_person": matrix, "matrix_standin": matrix_standin, "grid_worker": worker, "grid_standin": standin}
    return candidates, reader


def _decide(kind, department, given):
    """The decision of routing.decision_columns over one row of these facts, on the database."""
    candidates, reader = given
    columns = []
    for name, (person_id, away) in candidates.items():
        columns.append(cast(literal(person_id, String) if person_id else null(), String).label(f"{name}_id"))
        columns.append(cast(literal(away, Boolean) if away is not None else null(), Boolean).label(f"{name}_away"))
    columns.append(cast(literal(reader, String) if reader else null(), String).label("wish_reader_id"))
    row_facts = select(*columns).subquery("facts")
    query = select(*routing.decision_columns(row_facts.c))
    row = db.session.execute(query, routing.decision_params(kind, department)).one()
    return row


@pytest.mark.parametrize(
    "kind, department, given, expected",
    [
        (TicketKind.REPORT, 1, facts(matrix=AT_WORK, worker=("w", False)), ("p-at-work", "matrix")),
        (TicketKind.REPORT, 1, facts(matrix=AWAY, matrix_standin=("s", False)), ("s", "matrix_standin")),
        # a department's category never falls to the grid worker
        (TicketKind.REPORT, 1, facts(matrix=AWAY, worker=AT_WORK), (None, "community_queue")),
        (TicketKind.REPORT, None, facts(matrix=GONE, worker=AT_WORK), ("p-at-work", "grid_worker")),
        (TicketKind.REPORT, None, facts(worker=AWAY, standin=("g", False)), ("g", "grid_standin")),
        (TicketKind.REPORT, None, facts(worker=AWAY, standin=AWAY), (None, "community_queue")),
        (TicketKind.REPORT, None, facts(reader="r"), (None, "community_queue")),  # a report never goes to the wish box
        (TicketKind.WISH, None, facts(worker=AT_WORK, reader="r"), ("r", "wish_reader")),
        (TicketKind.WISH, None, facts(worker=AT_WORK, matrix=AT_WORK), (None, "community_queue")),
    ],
)
def test_the_rules_in_order(app_ctx, kind, department, given, expected):
    row = _decide(kind, department, given)
    assert (row.route_assignee_id, row.route_rule) == expected
    assert row.route_note == routing.RULE_LABELS[expected[1]]


def test_a_submission_reads_the_matrix_stand_in_when_the_professional_is_away(client, app_ctx):
    registry = make_registry()
    standin = make_person("刘代班", "13500003333", code="P-LDB")
    for row in db.session.query(Responsibility):
        row.standin_id = standin.id
    registry.professional.is_away = True
    db.session.commit()
    resident = auth_headers(client, openid="resident-r")
    response = submit(client, resident, registry.codes[registry.buildings[0].id], category="elevator")
    assert response.status_code == 201
    body = response.get_json()
    assert body["assignee"] == {"role": "网格员", "name": "刘代班"}  # no staff role of their own
    ticket = db.session.get(Ticket, body["id"])
    assert ticket.assignee_id == standin.id
    assert db.session.query(TicketEvent.rule).filter_by(ticket_id=ticket.id).scalar() == "matrix_standin"
