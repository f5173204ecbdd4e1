"""Step 3, writing: upsert the validated rows by 编码 and count what changed in the report."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select, update

from webapp.extensions import db
from webapp.people.models import Person, StaffAssignment
from webapp.registry.importer.read import Sheet, read_registry_file
from webapp.registry.importer.validate import (
    BUILDINGS,
    CATEGORIES,
    COMMUNITIES,
    DEPARTMENTS,
    GRIDS,
    MATRIX,
    PEOPLE,
    ROLE_SCOPES,
    STREETS,
    Existing,
    ImportReport,
    Plan,
    SheetCounts,
    people_by_openid,
    validate_registry,
)
from webapp.registry.models import (
    Building,
    Category,
    Community,
    Department,
    Grid,
    Responsibility,
    Street,
    Unit,
)


def import_registry_file(path: str | Path) -> ImportReport:
    """Read and import one file or CSV folder; see the package docstring for the format."""
    return import_registry(read_registry_file(path))


def preview_registry(sheets: dict[str, Sheet]) -> ImportReport:
    """What importing `sheets` would do, counted by the very code that writes (the bad rows,
    or per sheet what would be created, updated and left unchanged), inside a savepoint that
    is rolled back: nothing is written. Raises Invalid when no sheet of the format is present.
    """
    savepoint = db.session.begin_nested()
    try:
        return import_registry(sheets)
    finally:
        savepoint.rollback()
        db.session.expire_all()


def import_registry(sheets: dict[str, Sheet]) -> ImportReport:
    """Check every row of every sheet, then (only if none is bad) write them and flush.

    Raises Invalid when no sheet of the format is present.
    """
    report, existing, plan = validate_registry(sheets)
    if report.ok:
        _apply(plan, existing, report)
    return report


# ---------------------------------------------------------------- writing


def _assign(obj, values: dict) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _upsert(model, existing: dict, code: str, values: dict, counts: SheetCounts):
    obj = existing.get(code)
    if obj is None:
        obj = existing[code] = model(code=code, **values)
        db.session.add(obj)
        counts.created += 1
        counts.created_keys.append(code)
    elif _assign(obj, values):
        counts.updated += 1
        counts.updated_keys.append(code)
    else:
        counts.unchanged += 1
    return obj


def _apply(plan: Plan, existing: Existing, report: ImportReport) -> None:
    """Write a validated plan sheet by sheet, flushing after each so that ids exist."""
    counts = report.counts
    with db.session.no_autoflush:
        for code, values in plan.streets:
            _upsert(Street, existing.streets, code, values, counts[STREETS])
        db.session.flush()
        for code, values, street in plan.communities:
            values["street_id"] = existing.streets[street].id
            _upsert(Community, existing.communities, code, values, counts[COMMUNITIES])
        for code, values in plan.departments:
            _upsert(Department, existing.departments, code, values, counts[DEPARTMENTS])
        db.session.flush()
        for code, values, department in plan.categories:
            values["department_id"] = existing.departments[department].id if department else None
            _upsert(Category, existing.categories, code, values, counts[CATEGORIES])
        person_status = _apply_people(plan, existing)
        _apply_grids(plan, existing, report)
        _apply_roles(plan, existing, person_status)
        for code, status in person_status.items():
            setattr(counts[PEOPLE], status, getattr(counts[PEOPLE], status) + 1)
            if status != "unchanged":
                getattr(counts[PEOPLE], f"{status}_keys").append(code)
        _apply_buildings(plan, existing, report)
        _apply_matrix(plan, existing, report)
    db.session.flush()


def _apply_people(plan: Plan, existing: Existing) -> dict[str, str]:
    """Write people (not yet their roles); returns code → created/updated/unchanged."""
    status = {}
    openid_holders = people_by_openid(
        {p.openid for p in plan.people.values() if p.openid and p.code not in existing.people}
    )
    for code, p in plan.people.items():
        values = {"name": p.name, "phone": p.phone, **p.contact}
        if p.openid:
            values["openid"] = p.openid
        person = existing.people.get(code)
        if person is None and p.openid in openid_holders:
            # Someone who logged in as a resident before being listed as staff: adopt them.
            person = existing.people[code] = openid_holders[p.openid]
            values["code"] = code
        if person is None:
            existing.people[code] = Person(code=code, **values)
            db.session.add(existing.people[code])
            status[code] = "created"
        else:
            status[code] = "updated" if _assign(person, values) else "unchanged"
    db.session.flush()
    return status


def _apply_grids(plan: Plan, existing: Existing, report: ImportReport) -> None:
    people = existing.people
    for code, name, community, worker, standin in plan.grids:
        values = {
            "name": name,
            "community_id": existing.communities[community].id,
            "worker_id": people[worker].id if worker else None,
            "standin_id": people[standin].id if standin else None,
        }
        _upsert(Grid, existing.grids, code, values, report.counts[GRIDS])
    db.session.flush()


def _apply_roles(plan: Plan, existing: Existing, person_status: dict[str, str]) -> None:
    scope_ids = {
        STREETS: lambda c: (existing.streets[c].id, None, None, None),
        COMMUNITIES: lambda c: (None, existing.communities[c].id, None, None),
        GRIDS: lambda c: (None, None, existing.grids[c].id, None),
        DEPARTMENTS: lambda c: (None, None, None, existing.departments[c].id),
        None: lambda c: (None, None, None, None),
    }
    for code, p in plan.people.items():
        person_id = existing.people[code].id
        for role, scope in p.roles:
            street_id, community_id, grid_id, department_id = scope_ids[ROLE_SCOPES[role]](scope)
            key = (person_id, role, street_id, community_id, grid_id, department_id)
            if key in existing.assignments:
                continue
            existing.assignments.add(key)
            db.session.add(
                StaffAssignment(
                    person_id=person_id,
                    role=role,
                    street_id=street_id,
                    community_id=community_id,
                    grid_id=grid_id,
                    department_id=department_id,
                )
            )
            if person_status[code] == "unchanged":
                person_status[code] = "updated"
    db.session.flush()


def _apply_buildings(plan: Plan, existing: Existing, report: ImportReport) -> None:
    """Write buildings and their units with bulk statements (a city has 100,000 buildings)."""
    if not plan.buildings:
        return
    counts = report.counts[BUILDINGS]
    new_buildings, changed_buildings = [], []
    for code, values, grid, _ in plan.buildings:
        values = {**values, "grid_id": existing.grids[grid].id}
        stored = existing.buildings.get(code)
        if stored is None:
            new_buildings.append({"code": code, **values})
        elif (stored.name, stored.address, stored.grid_id) != tuple(values.values()):
            changed_buildings.append({"id": stored.id, **values})
    if new_buildings:
        # A plain executemany, then one query for the ids: on PostgreSQL this is several times
        # faster than INSERT ... RETURNING in batches.
        db.session.execute(insert(Building), new_buildings)
        ids = dict(db.session.execute(select(Building.code, Building.id)).all())
    else:
        ids = {code: row.id for code, row in existing.buildings.items()}
    if changed_buildings:
        db.session.execute(update(Building), changed_buildings)

    new_units, changed_units = [], []
    updated = {row["id"] for row in changed_buildings}
    for code, _, _, unit_names in plan.buildings:
        building_id = ids[code]
        stored_units = existing.units.get(building_id, {})
        for position, name in enumerate(unit_names, start=1):
            unit_id, sort_order = stored_units.get(name, (None, None))
            if unit_id is None:
                new_units.append({"building_id": building_id, "name": name, "sort_order": position})
            elif sort_order != position:
                changed_units.append({"id": unit_id, "sort_order": position})
            else:
                continue
            if code in existing.buildings:
                updated.add(building_id)
    if new_units:
        db.session.execute(insert(Unit), new_units)
    if changed_units:
        db.session.execute(update(Unit), changed_units)
    counts.created = len(new_buildings)
    counts.updated = len(updated)
    counts.created_keys = [row["code"] for row in new_buildings]
    codes_by_id = {building_id: code for code, building_id in ids.items()}
    counts.updated_keys = sorted(codes_by_id.get(building_id, str(building_id)) for building_id in updated)
    counts.unchanged = len(plan.buildings) - counts.created - counts.updated


def _apply_matrix(plan: Plan, existing: Existing, report: ImportReport) -> None:
    counts = report.counts.get(MATRIX)
    people = existing.people
    for grid, category, person, standin in plan.matrix:
        key = (existing.grids[grid].id, existing.categories[category].id)
        values = {
            "person_id": people[person].id,
            "standin_id": people[standin].id if standin else None,
        }
        responsibility = existing.matrix.get(key)
        if responsibility is None:
            existing.matrix[key] = Responsibility(grid_id=key[0], category_id=key[1], **values)
            db.session.add(existing.matrix[key])
            counts.created += 1
            counts.created_keys.append(f"{grid}/{category}")
        elif _assign(responsibility, values):
            counts.updated += 1
            counts.updated_keys.append(f"{grid}/{category}")
        else:
            counts.unchanged += 1
    db.session.flush()
