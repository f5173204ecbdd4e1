"""Routing: which person answers for a new ticket, and the rule that decided it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Category, Grid, Person, Responsibility, Role, StaffAssignment, TicketKind

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


def _present(person_id: str | None) -> bool:
    if person_id is None:
        return False
    person = db.session.get(Person, person_id)
    return person is not None and not person.is_away


def route(grid: Grid, category: Category) -> RoutingDecision:
    """Decide who gets a new ticket of this category in this grid.

    The matrix wins (its person, else their stand-in); a category no department owns falls to
    the grid's worker (else the grid's stand-in); wishes go to the community's wish reader;
    otherwise the ticket waits in the community's dispatch queue.
    """
    if category.kind is TicketKind.WISH:
        reader = db.session.scalars(
            select(StaffAssignment.person_id)
            .join(Person, Person.id == StaffAssignment.person_id)
            .where(
                StaffAssignment.role == Role.WISH_READER,
                StaffAssignment.community_id == grid.community_id,
                Person.is_away.is_(False),
            )
            .order_by(StaffAssignment.id)
        ).first()
        if reader:
            return RoutingDecision(reader, RULE_WISH_READER)
        return RoutingDecision(None, RULE_COMMUNITY_QUEUE)
    row = db.session.scalars(
        select(Responsibility).where(
            Responsibility.grid_id == grid.id, Responsibility.category_id == category.id
        )
    ).first()
    if row is not None:
        if _present(row.person_id):
            return RoutingDecision(row.person_id, RULE_MATRIX)
        if _present(row.standin_id):
            return RoutingDecision(row.standin_id, RULE_MATRIX_STANDIN)
    if category.department_id is None:
        if _present(grid.worker_id):
            return RoutingDecision(grid.worker_id, RULE_GRID_WORKER)
        if _present(grid.standin_id):
            return RoutingDecision(grid.standin_id, RULE_GRID_STANDIN)
    return RoutingDecision(None, RULE_COMMUNITY_QUEUE)


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
