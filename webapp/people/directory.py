"""The staff directory: who, in an actor's scope, can be given a ticket.

One rule for the list staff pick from (GET /api/v1/work/staff, the console's dispatch form) and
for the check of a dispatch or a reassignment (tickets.state_machine): a target must be in the
list of the person handing the ticket on.

- an admin: every member of staff;
- street staff: the staff of their streets, of those streets' communities and grids, and every
  department's professionals (a street coordinates the departments);
- community staff and wish readers: the staff of their communities and of those communities'
  grids, and the professionals the matrix names for those grids;
- a professional: the colleagues of their departments; a grid worker: the staff of their grids.

One row per role held there: a person who is grid worker and wish reader appears twice.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, or_, select
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.people.actors import Actor
from webapp.people.models import ROLE_LABELS, Person, Role, StaffAssignment
from webapp.registry.models import Community, Department, Grid, Responsibility, Street

MAX_LISTED = 200


@dataclass(frozen=True)
class StaffEntry:
    id: str
    name: str
    role: str
    role_label: str
    scope: str


_grid_community = aliased(Community)


def _scope_clause(actor: Actor):
    """Which staff assignments lie in the actor's scope (the module docstring's rule)."""
    if actor.is_admin:
        return StaffAssignment.id.is_not(None)
    a = StaffAssignment
    parts = []
    if actor.street_ids:
        streets = sorted(actor.street_ids)
        parts += [
            a.street_id.in_(streets),
            Community.street_id.in_(streets),
            _grid_community.street_id.in_(streets),
            a.department_id.is_not(None),
        ]
    communities = sorted(actor.community_ids | actor.wish_community_ids)
    if communities:
        matrix = select(Responsibility.person_id).join(Grid, Grid.id == Responsibility.grid_id)
        parts += [
            a.community_id.in_(communities),
            Grid.community_id.in_(communities),
            (a.department_id.is_not(None))
            & a.person_id.in_(matrix.where(Grid.community_id.in_(communities))),
        ]
    if actor.department_ids:
        parts.append(a.department_id.in_(sorted(actor.department_ids)))
    if actor.grid_ids:
        parts.append(a.grid_id.in_(sorted(actor.grid_ids)))
    return or_(*parts) if parts else false()


def _directory_query(actor: Actor):
    a = StaffAssignment
    return (
        select(
            Person.id, Person.name, a.role,
            Street.name.label("street"), Community.name.label("community"),
            Grid.name.label("grid"), _grid_community.name.label("grid_community"),
            Department.name.label("department"),
        )
        .join(Person, Person.id == a.person_id)
        .outerjoin(Street, Street.id == a.street_id)
        .outerjoin(Community, Community.id == a.community_id)
        .outerjoin(Grid, Grid.id == a.grid_id)
        .outerjoin(_grid_community, _grid_community.id == Grid.community_id)
        .outerjoin(Department, Department.id == a.department_id)
        .where(_scope_clause(actor), Person.deactivated_at.is_(None))  # nobody who left
    )


def _scope_name(row) -> str:
    if row.grid:
        return f"{row.grid_community}{row.grid}"
    return row.community or row.street or row.department or "全区"


def assignable_staff(actor: Actor, *, role: str | None = None, q: str | None = None) -> list[StaffEntry]:
    """The staff in the actor's scope, by name, optionally of one role or matching `q` (a part
    of the name, or the person's code exactly); at most MAX_LISTED rows."""
    query = _directory_query(actor)
    if role:
        query = query.where(StaffAssignment.role == Role(role))
    if q:
        query = query.where(or_(Person.name.contains(q, autoescape=True), Person.code == q))
    rows = db.session.execute(query.order_by(Person.name, Person.id, StaffAssignment.role).limit(MAX_LISTED))
    return [
        StaffEntry(row.id, row.name, row.role.value, ROLE_LABELS[row.role], _scope_name(row))
        for row in rows
    ]


def is_assignable(actor: Actor, person_id: str) -> bool:
    """Whether the actor may hand a ticket to this person (in their directory)."""
    query = _directory_query(actor).where(StaffAssignment.person_id == person_id).limit(1)
    return db.session.execute(query).first() is not None
