"""Routing: which person answers for a new ticket, and the rule that decided it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Boolean, String, and_, bindparam, case, cast, func, literal_column, not_, null, select,
    type_coerce,
)

from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.models import Grid, Responsibility, TicketKind

# The rules, in the order they are tried; each is recorded on the ticket's first event.
RULE_MATRIX = "matrix"  # grid × category → the responsible professional or worker
RULE_MATRIX_STANDIN = "matrix_standin"  # ... who is away, so their stand-in
RULE_GRID_WORKER = "grid_worker"  # the grid's full-time worker (categories no department owns)
RULE_GRID_STANDIN = "grid_standin"
RULE_WISH_READER = "wish_reader"  # a wish goes to the community's wish box
RULE_COMMUNITY_QUEUE = "community_queue"  # no one found: the community dispatches by hand

RULE_LABELS = {
    RULE_MATRIX: "按责任矩阵派给负责人",
    RULE_MATRIX_STANDIN: "负责人不在岗，派给代班人",
    RULE_GRID_WORKER: "派给本网格专职网格员",
    RULE_GRID_STANDIN: "网格员不在岗，派给代班人",
    RULE_WISH_READER: "进入社区心语心愿信箱",
    RULE_COMMUNITY_QUEUE: "未找到负责人，进入社区待派单",
}


@dataclass(frozen=True)
class RoutingDecision:
    assignee_id: str | None
    rule: str  # one of RULE_LABELS; its label is the first event's note (route_note)


# The rules of a report, in the order they are tried: the matrix wins (its person, else their
# stand-in); a category no department owns falls to the grid's worker (else the grid's
# stand-in); otherwise the ticket waits in the community's dispatch queue. A wish goes to the
# community's wish reader at work, else to the queue. (candidate, rule, also for a category a
# department owns)
REPORT_RULES = (
    ("matrix_person", RULE_MATRIX, True),
    ("matrix_standin", RULE_MATRIX_STANDIN, True),
    ("grid_worker", RULE_GRID_WORKER, False),
    ("grid_standin", RULE_GRID_STANDIN, False),
)


def decision_columns(facts):
    """The decision as three SQL columns over `facts` (the columns of a with_facts query, as a
    subquery or CTE): route_assignee_id, route_rule and route_note (the rule's label, the
    first event's note). The ticket's kind and its category's owner are the parameters
    bindparam("is_wish") and bindparam("department_owned"). The rules are decided in the
    statement that reads the facts, so that on PostgreSQL the submission's one statement
    writes the ticket with them (webapp/tickets/submission.py). A candidate is present when
    the person exists, is not away and has not left (the facts' <name>_away is false)."""
    is_wish = bindparam("is_wish", type_=Boolean)
    owned = bindparam("department_owned", type_=Boolean)
    reader = facts.wish_reader_id
    choices = [(and_(is_wish, reader.is_not(None)), reader, RULE_WISH_READER)]
    for name, rule, when_owned in REPORT_RULES:
        candidate = facts[f"{name}_id"]
        present = and_(not_(is_wish), candidate.is_not(None), facts[f"{name}_away"].is_(False))
        choices.append((present if when_owned else and_(not_(owned), present), candidate, rule))
    assignee = case(*((when, person) for when, person, _ in choices), else_=null())
    rule = case(*((when, _constant(rule)) for when, _, rule in choices), else_=_constant(RULE_COMMUNITY_QUEUE))
    note = case(
        *((when, _constant(RULE_LABELS[rule])) for when, _, rule in choices),
        else_=_constant(RULE_LABELS[RULE_COMMUNITY_QUEUE]),
    )
    return assignee.label("route_assignee_id"), rule.label("route_rule"), note.label("route_note")


def _constant(text: str):
    """A string of this module in the statement's text (no parameter: webapp.reads)."""
    return literal_column("'" + text.replace("'", "''") + "'", String)


def decision_params(kind: TicketKind, department_id: int | None) -> dict:
    """The parameters of decision_columns for a ticket of this kind and category."""
    return {"is_wish": kind is TicketKind.WISH, "department_owned": department_id is not None}


def decision_of(row) -> RoutingDecision:
    """The decision of a row with decision_columns."""
    return RoutingDecision(row.route_assignee_id, row.route_rule)


# The facts as columns of a query over the grid (with_facts): the grid × category row of the
# matrix for bindparam("category_id"), the people of its four candidates, and the community's
# wish reader.
_matrix = Responsibility.__table__.alias("route_matrix")
CANDIDATES = {
    "matrix_person": _matrix.c.person_id,
    "matrix_standin": _matrix.c.standin_id,
    "grid_worker": Grid.__table__.c.worker_id,
    "grid_standin": Grid.__table__.c.standin_id,
}
_people = {name: Person.__table__.alias(f"route_{name}") for name in CANDIDATES}


def with_facts(query, place):
    """`query` over `place` (a join that has grids) joined to what routing needs, with its
    columns (decided by decision_columns); bindparam("category_id") names the category."""
    grids = Grid.__table__
    joined = place.outerjoin(
        _matrix,
        and_(_matrix.c.grid_id == grids.c.id, _matrix.c.category_id == bindparam("category_id")),
    )
    columns = []
    for name, person_id in CANDIDATES.items():
        people = _people[name]
        joined = joined.outerjoin(people, people.c.id == person_id)
        columns += [
            person_id.label(f"{name}_id"),
            # Someone who left (deactivated_at) is passed by as if away.
            type_coerce(people.c.is_away | people.c.deactivated_at.is_not(None), Boolean).label(f"{name}_away"),
            people.c.name.label(f"{name}_name"),  # how a new ticket shows its assignee
        ]
    # Their staff roles, "person:role,person:role..." (one short subquery; see roles_of).
    roles = (
        select(
            func.aggregate_strings(
                StaffAssignment.person_id.op("||")(":").op("||")(cast(StaffAssignment.role, String)),
                literal_column("','"),  # in the text: a statement prepared once (webapp.reads)
            )
        )
        .where(StaffAssignment.person_id.in_(list(CANDIDATES.values())))
        .scalar_subquery()
    )
    columns.append(roles.label("candidate_roles"))
    reader = (
        select(StaffAssignment.person_id)
        .join(Person, Person.id == StaffAssignment.person_id)
        .where(
            StaffAssignment.role == Role.WISH_READER,
            StaffAssignment.community_id == grids.c.community_id,
            Person.is_away.is_(False),
            Person.deactivated_at.is_(None),
        )
        .order_by(StaffAssignment.id)
        .limit(1)
        .scalar_subquery()
    )
    # Read for a wish only (bindparam("is_wish"), as decision_columns).
    reader = case((bindparam("is_wish", type_=Boolean), reader), else_=null())
    return query.select_from(joined).add_columns(*columns, reader.label("wish_reader_id"))


def roles_of(row, person_id: str) -> list[Role]:
    """The staff roles of one candidate of a with_facts row."""
    pairs = (item.split(":", 1) for item in (row.candidate_roles or "").split(",") if item)
    return [Role(role) for who, role in pairs if who == person_id]


def community_head(community_id: int) -> str | None:
    """The community staff member who takes what the grids keep handing back."""
    return db.session.scalars(
        select(StaffAssignment.person_id)
        .where(
            StaffAssignment.role == Role.COMMUNITY_STAFF,
            StaffAssignment.community_id == community_id,
        )
        .order_by(StaffAssignment.id)
    ).first()
