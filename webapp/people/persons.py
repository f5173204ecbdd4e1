"""Small facts about people that several doors need."""
from __future__ import annotations

from webapp.people.models import ROLE_LABELS, Role


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

