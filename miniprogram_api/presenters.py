"""Turning tickets into the contract's shapes, showing each viewer only what they may see."""
from __future__ import annotations

from webapp.domain import access, names
from webapp.domain.actors import Actor
from webapp.domain.workflow import ACTION_LABELS, Action
from webapp.models import Ticket
from webapp.models.tickets import STATUS_LABELS


def as_is(value):
    return value


class TicketPresenter:
    """Caches the places, categories and people that several tickets of one response share.

    For a list, summaries() reads them for the whole page first (webapp.domain.names: at
    most one query each for buildings, units, categories and assignees), instead of a few
    queries per ticket.
    """

    def __init__(self, actor: Actor):
        self.actor = actor
        self._buildings: dict[int, dict] = {}
        self._assignees: dict[str, dict] = {}
        self._categories: dict[int, tuple[str, str]] = {}
        self._units: dict[int, str] = {}

    def building(self, building_id: int) -> dict:
        if building_id not in self._buildings:
            self._buildings.update(names.buildings.get([building_id]))
        return self._buildings[building_id]

    def _building_of(self, ticket: Ticket) -> dict:
        return self.building(ticket.building_id)

    def assignee(self, person_id: str | None) -> dict | None:
        if person_id is None:
            return None
        if person_id not in self._assignees:
            self._assignees.update(names.assignees.get([person_id]))
        return self._assignees[person_id]

    def _category(self, ticket: Ticket) -> tuple[str, str]:
        if ticket.category_id not in self._categories:
            self._categories.update(names.categories.get([ticket.category_id]))
        return self._categories[ticket.category_id]

    def _unit(self, ticket: Ticket) -> str | None:
        if ticket.unit_id is None:
            return None
        if ticket.unit_id not in self._units:
            self._units.update(names.units.get([ticket.unit_id]))
        return self._units[ticket.unit_id]

    def prefetch(self, tickets: list[Ticket]) -> None:
        """Read what the summaries of these tickets need (webapp.domain.names: one query per
        kind for what the process has not seen lately)."""
        self._buildings.update(names.buildings.get(t.building_id for t in tickets))
        self._units.update(names.units.get(t.unit_id for t in tickets))
        self._categories.update(names.categories.get(t.category_id for t in tickets))
        self._assignees.update(names.assignees.get(t.assignee_id for t in tickets))

    def remember(self, ticket: Ticket, names) -> None:
        """Keep what a submission read of its new ticket (submission.TicketNames), so that
        summary() shows it without reading anything."""
        self._buildings[ticket.building_id] = names.building
        self._categories[ticket.category_id] = names.category
        if ticket.unit_id is not None:
            self._units[ticket.unit_id] = names.unit
        if ticket.assignee_id is not None and names.assignee is not None:
            self._assignees[ticket.assignee_id] = names.assignee

    def summaries(self, tickets: list[Ticket]) -> list[dict]:
        """The summary of each ticket of a list, reading shared data once for the list."""
        self.prefetch(tickets)
        return [self.summary(t) for t in tickets]

    def summary(self, ticket: Ticket, when=as_is) -> dict:
        """The ticket as lists show it (TicketSchema's fields, in its order); `when` formats
        the timestamps (local_iso for a response made without the schema)."""
        category_code, category_name = self._category(ticket)
        return {
            "id": ticket.id,
            "number": ticket.number,
            "kind": ticket.kind.value,
            "category": category_code,
            "category_name": category_name,
            "status": ticket.status.value,
            "status_label": STATUS_LABELS[ticket.status],
            "description": ticket.description,
            "unit": self._unit(ticket),
            "building": self._building_of(ticket),
            "assignee": self.assignee(ticket.assignee_id),
            "level": ticket.level,
            "due_at": when(ticket.resolve_due_at),
            "accept_due_at": when(ticket.accept_due_at),
            "is_overdue": ticket.is_overdue,
            "created_at": when(ticket.created_at),
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
