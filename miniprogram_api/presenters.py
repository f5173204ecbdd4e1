"""Turning tickets into the contract's shapes, showing each viewer only what they may see."""
from __future__ import annotations

from sqlalchemy import select

from webapp.domain import access
from webapp.domain.actors import Actor
from webapp.domain.people import assignee_label
from webapp.domain.workflow import ACTION_LABELS, Action
from webapp.extensions import db
from webapp.models import Building, Category, Community, Grid, Person, StaffAssignment, Ticket, Unit
from webapp.models.tickets import STATUS_LABELS

def as_is(value):
    return value


class TicketPresenter:
    """Caches the places, categories and people that several tickets of one response share.

    For a list, summaries() reads them for the whole page first: one query each for the
    buildings (with grid and community), units, categories and assignees (with their roles),
    instead of a few queries per ticket.
    """

    def __init__(self, actor: Actor):
        self.actor = actor
        self._buildings: dict[int, dict] = {}
        self._assignees: dict[str, dict] = {}
        self._categories: dict[int, tuple[str, str]] = {}
        self._units: dict[int, str] = {}

    def _building_query(self):
        return (
            select(Building.id, Building.name, Building.address, Grid.name, Community.name)
            .join(Grid, Grid.id == Building.grid_id)
            .join(Community, Community.id == Grid.community_id)
        )

    def _keep_building(self, row) -> None:
        self._buildings[row[0]] = {
            "id": row[0], "name": row[1], "address": row[2], "community": row[4], "grid": row[3],
        }

    def building(self, building_id: int) -> dict:
        if building_id not in self._buildings:
            self._keep_building(
                db.session.execute(self._building_query().where(Building.id == building_id)).one()
            )
        return self._buildings[building_id]

    def _building_of(self, ticket: Ticket) -> dict:
        """The ticket's building; from its loaded building and grid (with the grid's community)
        when it has them, as a new ticket does, else read (or cached)."""
        if ticket.building_id not in self._buildings:
            loaded = ticket.__dict__
            building, grid = loaded.get("building"), loaded.get("grid")
            community = grid.__dict__.get("community") if grid is not None else None
            if building is not None and community is not None and grid.id == building.grid_id:
                self._buildings[building.id] = {
                    "id": building.id, "name": building.name, "address": building.address,
                    "community": community.name, "grid": grid.name,
                }
        return self.building(ticket.building_id)

    def _keep_assignees(self, person_ids: set[str]) -> None:
        """Name and narrowest staff role of each person, in one query."""
        rows = db.session.execute(
            select(Person.id, Person.name, StaffAssignment.role)
            .outerjoin(StaffAssignment, StaffAssignment.person_id == Person.id)
            .where(Person.id.in_(person_ids))
        ).all()
        names: dict[str, str] = {}
        roles: dict[str, set] = {}
        for person_id, name, role in rows:
            names[person_id] = name
            roles.setdefault(person_id, set()).add(role)
        for person_id, name in names.items():
            self._assignees[person_id] = assignee_label(name, roles[person_id])

    def assignee(self, person_id: str | None) -> dict | None:
        if person_id is None:
            return None
        if person_id not in self._assignees:
            self._keep_assignees({person_id})
        return self._assignees[person_id]

    def _category(self, ticket: Ticket) -> tuple[str, str]:
        if ticket.category_id not in self._categories:
            self._categories[ticket.category_id] = (ticket.category.code, ticket.category.name)
        return self._categories[ticket.category_id]

    def _unit(self, ticket: Ticket) -> str | None:
        if ticket.unit_id is None:
            return None
        if ticket.unit_id not in self._units:
            self._units[ticket.unit_id] = ticket.unit.name
        return self._units[ticket.unit_id]

    def prefetch(self, tickets: list[Ticket]) -> None:
        """Read what the summaries of these tickets need that is not cached yet (nor loaded
        with the tickets, e.g. by joinedload(Ticket.category))."""
        for ticket in tickets:
            loaded = ticket.__dict__
            if loaded.get("category") is not None:
                self._categories.setdefault(ticket.category_id, (ticket.category.code, ticket.category.name))
            if loaded.get("unit") is not None:
                self._units.setdefault(ticket.unit_id, ticket.unit.name)
        building_ids = {t.building_id for t in tickets} - self._buildings.keys()
        if building_ids:
            for row in db.session.execute(self._building_query().where(Building.id.in_(building_ids))):
                self._keep_building(row)
        unit_ids = {t.unit_id for t in tickets if t.unit_id is not None} - self._units.keys()
        if unit_ids:
            self._units.update(db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all())
        category_ids = {t.category_id for t in tickets} - self._categories.keys()
        if category_ids:
            for cid, code, name in db.session.execute(
                select(Category.id, Category.code, Category.name).where(Category.id.in_(category_ids))
            ):
                self._categories[cid] = (code, name)
        person_ids = {t.assignee_id for t in tickets if t.assignee_id} - self._assignees.keys()
        if person_ids:
            self._keep_assignees(person_ids)

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
