"""What lists show of a ticket's place, category, unit and assignee, by id, kept per process.

A page of tickets carries ids; their names come from here: one query per kind for the ids not
seen in the last SCAN_CACHE_SECONDS (0: every call reads), none once a process has seen them.
Places, units and categories change by import only; a renamed person or a changed staff role
shows in lists within SCAN_CACHE_SECONDS (single tickets, with their timeline, read them too).
They are read on a connection of their own (webapp.reads.read_connection), outside the
session's transaction: committed names, and on PostgreSQL no BEGIN and COMMIT around them.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

from flask import current_app
from sqlalchemy import select

from webapp.domain.people import assignee_label
from webapp.reads import read_connection
from webapp.models import Building, Category, Community, Grid, Person, StaffAssignment, Unit

_MAX_ENTRIES = 200_000  # per kind; beyond it a kind starts again empty


class _Kind:
    """id → (when read, value) for one kind of name, with the query that reads missing ids."""

    def __init__(self, read: Callable[[object, set], dict]):
        self._read = read
        self._entries: dict = {}
        self._lock = threading.Lock()

    def get(self, ids: Iterable) -> dict:
        ttl = float(current_app.config["SCAN_CACHE_SECONDS"])
        now = time.monotonic()
        found, missing = {}, set()
        entries = self._entries
        for key in ids:
            if key is None or key in found:
                continue
            hit = entries.get(key)
            if hit is not None and now - hit[0] < ttl:
                found[key] = hit[1]
            else:
                missing.add(key)
        if missing:
            with read_connection() as connection:  # outside the session: no transaction
                read = self._read(connection, missing)
            found.update(read)
            if ttl > 0:
                with self._lock:
                    if len(entries) + len(read) > _MAX_ENTRIES:
                        entries.clear()
                    entries.update((key, (now, value)) for key, value in read.items())
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _read_buildings(connection, ids: set) -> dict:
    rows = connection.execute(
        select(Building.id, Building.name, Building.address, Community.name, Grid.name)
        .join(Grid, Grid.id == Building.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .where(Building.id.in_(ids))
    )
    # The keys in the order of schemas.places.BuildingSchema.
    return {
        row[0]: {"id": row[0], "name": row[1], "address": row[2], "community": row[3], "grid": row[4]}
        for row in rows
    }


def _read_units(connection, ids: set) -> dict:
    return dict(connection.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids))).all())


def _read_categories(connection, ids: set) -> dict:
    rows = connection.execute(select(Category.id, Category.code, Category.name).where(Category.id.in_(ids)))
    return {cid: (code, name) for cid, code, name in rows}


def _read_assignees(connection, ids: set) -> dict:
    """Name and narrowest staff role (people.assignee_label) of each person."""
    rows = connection.execute(
        select(Person.id, Person.name, StaffAssignment.role)
        .outerjoin(StaffAssignment, StaffAssignment.person_id == Person.id)
        .where(Person.id.in_(ids))
    ).all()
    names: dict[str, str] = {}
    roles: dict[str, set] = {}
    for person_id, name, role in rows:
        names[person_id] = name
        roles.setdefault(person_id, set()).add(role)
    return {person_id: assignee_label(name, roles[person_id]) for person_id, name in names.items()}


buildings = _Kind(_read_buildings)  # id → {"id", "name", "address", "community", "grid"}
units = _Kind(_read_units)  # id → name
categories = _Kind(_read_categories)  # id → (code, name)
assignees = _Kind(_read_assignees)  # person id → {"role", "name"}


def clear() -> None:
    for kind in (buildings, units, categories, assignees):
        kind.clear()
