"""The acting person with their roles and scope, as domain functions receive them."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from webapp.extensions import db
from webapp.people.models import Person, Role, StaffAssignment
from webapp.registry.models import Responsibility

RESIDENT = "resident"
RIDER = "rider"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a resident (no staff role), a rider, or staff with a scope in the tree."""

    person_id: str
    name: str = ""
    roles: frozenset[str] = frozenset({RESIDENT})
    grid_ids: frozenset[int] = frozenset()  # as grid worker
    community_ids: frozenset[int] = frozenset()  # as community staff
    wish_community_ids: frozenset[int] = frozenset()  # as wish reader
    street_ids: frozenset[int] = frozenset()  # as street staff
    department_ids: frozenset[int] = frozenset()  # as professional grid worker
    # (grid_id, category_id) pairs the person answers for through the matrix.
    matrix: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    # The secrets of anonymous wishes this request presents (the API's X-Wish-Secrets header):
    # they make the actor the author of those wishes (webapp.tickets.wishes.is_author).
    wish_secrets: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN.value in self.roles

    @property
    def is_staff(self) -> bool:
        return bool(self.roles - {RESIDENT, RIDER})

    @property
    def is_rider(self) -> bool:
        return RIDER in self.roles

    def supervises_street(self, street_id: int) -> bool:
        """An admin, or staff of that street."""
        return self.is_admin or street_id in self.street_ids

    def supervises_community(self, community_id: int, street_id: int) -> bool:
        """An admin, staff of that community, or staff of its street (print its signs, manage
        its places)."""
        return community_id in self.community_ids or self.supervises_street(street_id)

    @property
    def primary_role(self) -> str:
        """The role an event records when this person acts: the widest staff role held."""
        for role in (
            Role.ADMIN,
            Role.STREET_STAFF,
            Role.COMMUNITY_STAFF,
            Role.WISH_READER,
            Role.PROFESSIONAL,
            Role.GRID_WORKER,
        ):
            if role.value in self.roles:
                return role.value
        return RIDER if self.is_rider else RESIDENT


def load_actor(
    person_id: str,
    *,
    is_rider: bool | None = None,
    person: Person | None = None,
    name: str | None = None,
    assignments: list | None = None,
) -> Actor:
    """Read a person's roles and scope from their staff assignments and the matrix.

    is_rider None: the rider role comes from the riders table (an active rider only).
    name and assignments (anything with role, grid_id, community_id, street_id and
    department_id) when the caller read them with the session; else read here.
    """
    if person is None and name is None:
        person = db.session.get(Person, person_id)
    if name is None:
        name = person.name if person else ""
    if is_rider is None:
        from webapp.people.riders import is_active_rider

        is_rider = is_active_rider(person_id)
    if assignments is None:
        assignments = db.session.scalars(
            select(StaffAssignment).where(StaffAssignment.person_id == person_id)
        ).all()
    roles = {RESIDENT}
    if is_rider:
        roles.add(RIDER)
    scopes: dict[str, set[int]] = {
        "grid": set(), "community": set(), "wish": set(), "street": set(), "department": set()
    }
    for a in assignments:
        roles.add(a.role.value)
        if a.role is Role.GRID_WORKER and a.grid_id:
            scopes["grid"].add(a.grid_id)
        elif a.role is Role.COMMUNITY_STAFF and a.community_id:
            scopes["community"].add(a.community_id)
        elif a.role is Role.WISH_READER and a.community_id:
            scopes["wish"].add(a.community_id)
        elif a.role is Role.STREET_STAFF and a.street_id:
            scopes["street"].add(a.street_id)
        elif a.role is Role.PROFESSIONAL and a.department_id:
            scopes["department"].add(a.department_id)
    matrix = []
    if assignments:  # only staff answer for grid × category pairs; residents skip the query
        matrix = db.session.execute(
            select(Responsibility.grid_id, Responsibility.category_id).where(
                (Responsibility.person_id == person_id) | (Responsibility.standin_id == person_id)
            )
        ).all()
    return Actor(
        person_id=person_id,
        name=name,
        roles=frozenset(roles),
        grid_ids=frozenset(scopes["grid"]),
        community_ids=frozenset(scopes["community"]),
        wish_community_ids=frozenset(scopes["wish"]),
        street_ids=frozenset(scopes["street"]),
        department_ids=frozenset(scopes["department"]),
        matrix=frozenset((g, c) for g, c in matrix),
    )
