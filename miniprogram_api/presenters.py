"""Turning tickets into the contract's shapes, showing each viewer only what they may see."""
from __future__ import annotations

from sqlalchemy import select

from webapp.domain import access
from webapp.domain.actors import Actor
from webapp.domain.workflow import ACTION_LABELS, Action
from webapp.extensions import db
from webapp.models import Building, Community, Grid, Person, Role, StaffAssignment, Ticket
from webapp.models.people import ROLE_LABELS
from webapp.models.tickets import STATUS_LABELS

# The role an assignee is shown with, narrowest first.
_ASSIGNEE_ROLE_ORDER = (
    Role.GRID_WORKER,
    Role.PROFESSIONAL,
    Role.WISH_READER,
    Role.COMMUNITY_STAFF,
    Role.STREET_STAFF,
    Role.ADMIN,
)


class TicketPresenter:
    """Caches the places and people that several tickets of one response share."""

    def __init__(self, actor: Actor):
        self.actor = actor
        self._buildings: dict[int, dict] = {}
        self._assignees: dict[str, dict] = {}

    def building(self, building_id: int) -> dict:
        if building_id not in self._buildings:
            row = db.session.execute(
                select(Building.id, Building.name, Building.address, Grid.name, Community.name)
                .join(Grid, Grid.id == Building.grid_id)
                .join(Community, Community.id == Grid.community_id)
                .where(Building.id == building_id)
            ).one()
            self._buildings[building_id] = {
                "id": row[0], "name": row[1], "address": row[2], "grid": row[3], "community": row[4],
            }
        return self._buildings[building_id]

    def assignee(self, person_id: str | None) -> dict | None:
        if person_id is None:
            return None
        if person_id not in self._assignees:
            person = db.session.get(Person, person_id)
            roles = set(
                db.session.scalars(
                    select(StaffAssignment.role).where(StaffAssignment.person_id == person_id)
                )
            )
            role = next((r for r in _ASSIGNEE_ROLE_ORDER if r in roles), Role.GRID_WORKER)
            self._assignees[person_id] = {"role": ROLE_LABELS[role], "name": person.name}
        return self._assignees[person_id]

    def summary(self, ticket: Ticket) -> dict:
        return {
            "id": ticket.id,
            "number": ticket.number,
            "kind": ticket.kind.value,
            "category": ticket.category.code,
            "category_name": ticket.category.name,
            "status": ticket.status.value,
            "status_label": STATUS_LABELS[ticket.status],
            "description": ticket.description,
            "unit": ticket.unit.name if ticket.unit else None,
            "building": self.building(ticket.building_id),
            "assignee": self.assignee(ticket.assignee_id),
            "level": ticket.level,
            "due_at": ticket.resolve_due_at,
            "accept_due_at": ticket.accept_due_at,
            "is_overdue": ticket.is_overdue,
            "created_at": ticket.created_at,
            "me_too_count": ticket.me_too_count,
            "rating": ticket.rating,
            "anonymous": ticket.is_anonymous,
            "version": ticket.version,
        }

    def detail(self, ticket: Ticket) -> dict:
        is_staff_view = access.in_staff_scope(self.actor, ticket)
        view = self.summary(ticket)
        view.update(
            timeline=[
                {
                    "at": e.at,
                    "action": e.action,
                    "action_label": ACTION_LABELS.get(Action(e.action), e.action),
                    "actor_role": e.actor_role,
                    "note": e.note,
                    "reason": e.reason,
                    "photo_ids": e.photo_ids or [],
                }
                for e in ticket.events
            ],
            photo_ids=ticket.photo_ids or [],
            rating_comment=ticket.rating_comment,
            reopen_count=ticket.reopen_count,
            is_reporter=access.is_reporter(self.actor, ticket),
            contact_phone=ticket.contact_phone if is_staff_view else None,
            duplicate_of=ticket.duplicate_of_id if is_staff_view else None,
            needs_review=ticket.needs_review,
        )
        return view
