"""Small facts about people that several doors need."""
from __future__ import annotations

from sqlalchemy import String, case, func, select, type_coerce

from webapp.models import Role, StaffAssignment
from webapp.models.people import ROLE_LABELS


def mask_phone(phone: str | None) -> str:
    """Show a phone number the way a public sign may: 138****5678."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return digits[:1] + "*" * (len(digits) - 1)


# The role a ticket's assignee is shown with: their narrowest staff role.
ASSIGNEE_ROLE_ORDER = (
    Role.GRID_WORKER,
    Role.PROFESSIONAL,
    Role.WISH_READER,
    Role.COMMUNITY_STAFF,
    Role.STREET_STAFF,
    Role.ADMIN,
)


def assignee_label(name: str, roles) -> dict:
    """{"role", "name"} of an assignee: their narrowest staff role (none: grid worker)."""
    role = next((r for r in ASSIGNEE_ROLE_ORDER if r in roles), Role.GRID_WORKER)
    return {"role": ROLE_LABELS[role], "name": name}


# The same in SQL: the least rank in ASSIGNEE_ROLE_ORDER of a person's assignments (null for
# a person with no staff role), read back with ASSIGNEE_LABEL_BY_RANK.
_ROLE_RANK = case(
    {role.value: rank for rank, role in enumerate(ASSIGNEE_ROLE_ORDER)},
    value=type_coerce(StaffAssignment.role, String()),
)
ASSIGNEE_LABEL_BY_RANK = {
    None: ROLE_LABELS[Role.GRID_WORKER],
    **{rank: ROLE_LABELS[role] for rank, role in enumerate(ASSIGNEE_ROLE_ORDER)},
}


def assignee_role_rank(person_id_column, correlate=None):
    """A scalar subquery of the rank of the narrowest staff role of the person whose id is
    `person_id_column` (correlated to the selectable `correlate`)."""
    query = select(func.min(_ROLE_RANK)).where(StaffAssignment.person_id == person_id_column)
    if correlate is not None:
        query = query.correlate(correlate)
    return query.scalar_subquery()
