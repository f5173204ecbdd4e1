"""Routing rules (routing.decide over the facts) and the facts as the submission reads them."""
from __future__ import annotations

import pytest

from tests.factories import auth_headers, make_person, make_registry, submit
from webapp.extensions import db
from webapp.registry.models import Responsibility, TicketKind
from webapp.tickets.models import Ticket, TicketEvent
from webapp.tickets.routing import Candidate, RoutingFacts, decide

AT_WORK = Candidate("p-at-work", False)
AWAY = Candidate("p-away", True)
NOBODY = Candidate(None, None)
GONE = Candidate("p-deleted", None)  # an id whose person no longer exists


def facts(matrix=NOBODY, matrix_standin=NOBODY, worker=NOBODY, standin=NOBODY, reader=None):
    return RoutingFacts(matrix, matrix_standin, worker, standin, reader)


@pytest.mark.parametrize(
    "kind, department, given, expected",
    [
        (TicketKind.REPORT, 1, facts(matrix=AT_WORK, worker=Candidate("w", False)), ("p-at-work", "matrix")),
        (TicketKind.REPORT, 1, facts(matrix=AWAY, matrix_standin=Candidate("s", False)), ("s", "matrix_standin")),
        # a department's category never falls to the grid worker
        (TicketKind.REPORT, 1, facts(matrix=AWAY, worker=AT_WORK), (None, "community_queue")),
        (TicketKind.REPORT, None, facts(matrix=GONE, worker=AT_WORK), ("p-at-work", "grid_worker")),
        (TicketKind.REPORT, None, facts(worker=AWAY, standin=Candidate("g", False)), ("g", "grid_standin")),
        (TicketKind.REPORT, None, facts(worker=AWAY, standin=AWAY), (None, "community_queue")),
        (TicketKind.WISH, None, facts(worker=AT_WORK, reader="r"), ("r", "wish_reader")),
        (TicketKind.WISH, None, facts(worker=AT_WORK), (None, "community_queue")),
    ],
)
def test_the_rules_in_order(kind, department, given, expected):
    decision = decide(kind, department, given)
    assert (decision.assignee_id, decision.rule) == expected


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
