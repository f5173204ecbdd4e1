"""Routing: which person answers for a new ticket, and the rule that decided it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, String, and_, bindparam, cast, func, literal_column, select, type_coerce

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
    rule: str

    @property
    def label(self) -> str:
        return RULE_LABELS[self.rule]


@dataclass(frozen=True)
class Candidate:
    """A person routing may choose, and whether they are at work (None: no such person)."""

    person_id: str | None
    is_away: bool | None

    @property
    def present(self) -> bool:
        return self.person_id is not None and self.is_away is False


@dataclass(frozen=True)
class RoutingFacts:
    """Everything the rules look at, read with the place in one query (see facts_columns)."""

    matrix_person: Candidate
    matrix_standin: Candidate
    grid_worker: Candidate
    grid_standin: Candidate
    wish_reader: str | None  # the community's first wish reader at work


def decide(kind: TicketKind, department_id: int | None, facts: RoutingFacts) -> RoutingDecision:
    """Who gets a new ticket of this kind and category (owned by department_id or by no one).

    The matrix wins (its person, else their stand-in); a category no department owns falls to
    the grid's worker (else the grid's stand-in); wishes go to the community's wish reader;
    otherwise the ticket waits in the community's dispatch queue.
    """
    if kind is TicketKind.WISH:
        if facts.wish_reader:
            return RoutingDecision(facts.wish_reader, RULE_WISH_READER)
        return RoutingDecision(None, RULE_COMMUNITY_QUEUE)
    for candidate, rule in ((facts.matrix_person, RULE_MATRIX), (facts.matrix_standin, RULE_MATRIX_STANDIN)):
        if candidate.present:
            return RoutingDecision(candidate.person_id, rule)
    if department_id is None:
        for candidate, rule in ((facts.grid_worker, RULE_GRID_WORKER), (facts.grid_standin, RULE_GRID_STANDIN)):
            if candidate.present:
                return RoutingDecision(candidate.person_id, rule)
    return RoutingDecision(None, RULE_COMMUNITY_QUEUE)


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
    columns (read back with facts_of); bindparam("category_id") names the category."""
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
    return query.select_from(joined).add_columns(*columns, reader.label("wish_reader_id"))


def roles_of(row, person_id: str) -> list[Role]:
    """The staff roles of one candidate of a with_facts row."""
    pairs = (item.split(":", 1) for item in (row.candidate_roles or "").split(",") if item)
    return [Role(role) for who, role in pairs if who == person_id]


def facts_of(row) -> RoutingFacts:
    """The RoutingFacts of a row of a with_facts query."""
    candidates = {
        name: Candidate(getattr(row, f"{name}_id"), getattr(row, f"{name}_away")) for name in CANDIDATES
    }
    return RoutingFacts(**candidates, wish_reader=row.wish_reader_id)


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
