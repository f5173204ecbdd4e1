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
from sqlalchemy import String, select, type_coerce

from webapp.people.models import Person, Role, StaffAssignment
from webapp.people.persons import assignee_label
from webapp.reads import PreparedStatement, among, read_connection
from webapp.registry.models import Building, Category, Community, Grid, Unit

_MAX_ENTRIES = 200_000  # per kind; beyond it a kind starts again empty


class _Kind:
    """id → (when read, value) for one kind of name, with the query that reads missing ids."""

    def __init__(self, build: Callable[[str], object], shape: Callable[[list], dict]):
        self._build = build  # dialect name → the statement reading the rows of the ids
        self._shape = shape  # those rows → {id: value}
        self._queries: dict[str, PreparedStatement] = {}
        self._entries: dict = {}
        self._lock = threading.Lock()

    def get(self, ids: Iterable, connection=None) -> dict:
        """The names of these ids (None skipped); those missing are read on `connection` (a
        webapp.reads.read_connection) or on one of their own."""
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
            read = self._read(missing, connection)
            found.update(read)
            if ttl > 0:
                with self._lock:
                    if len(entries) + len(read) > _MAX_ENTRIES:
                        entries.clear()
                    entries.update((key, (now, value)) for key, value in read.items())
        return found

    def _read(self, ids: set, connection) -> dict:
        if connection is None:
            with read_connection() as connection:
                return self._read(ids, connection)
        dialect = connection.dialect.name
        query = self._queries.get(dialect)
        if query is None:
            query = self._queries[dialect] = PreparedStatement(self._build(dialect))
        return self._shape(query.rows(connection, {"ids": list(ids)}))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _buildings(dialect: str):
    return (
        select(Building.id, Building.name, Building.address, Community.name, Grid.name)
        .join(Grid, Grid.id == Building.grid_id)
        .join(Community, Community.id == Grid.community_id)
        .where(among(Building.id, dialect))
    )


def _building_names(rows) -> dict:
    # The keys in the order of schemas.places.BuildingSchema.
    return {
        row[0]: {"id": row[0], "name": row[1], "address": row[2], "community": row[3], "grid": row[4]}
        for row in rows
    }


def _units(dialect: str):
    return select(Unit.id, Unit.name).where(among(Unit.id, dialect))


def _categories(dialect: str):
    return select(Category.id, Category.code, Category.name).where(among(Category.id, dialect))


def _category_names(rows) -> dict:
    return {category_id: (code, name) for category_id, code, name in rows}


def _assignees(dialect: str):
    return (
        select(Person.id, Person.name, type_coerce(StaffAssignment.role, String))
        .outerjoin(StaffAssignment, StaffAssignment.person_id == Person.id)
        .where(among(Person.id, dialect))
    )


def _assignee_names(rows) -> dict:
    """Name and narrowest staff role (people.assignee_label) of each person."""
    names: dict[str, str] = {}
    roles: dict[str, set] = {}
    for person_id, name, role in rows:
        names[person_id] = name
        roles.setdefault(person_id, set()).add(role and Role(role))
    return {person_id: assignee_label(name, roles[person_id]) for person_id, name in names.items()}


buildings = _Kind(_buildings, _building_names)  # id → {"id", "name", "address", "community", "grid"}
units = _Kind(_units, dict)  # id → name
categories = _Kind(_categories, _category_names)  # id → (code, name)
assignees = _Kind(_assignees, _assignee_names)  # person id → {"role", "name"}


def clear() -> None:
    for kind in (buildings, units, categories, assignees):
        kind.clear()
