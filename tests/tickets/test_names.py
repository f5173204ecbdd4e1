"""webapp.tickets.names: names by id, read once per SCAN_CACHE_SECONDS per process."""
from __future__ import annotations

import pytest

from tests.factories import make_registry
from webapp.extensions import db
from webapp.tickets import names


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def test_names_are_read_for_the_ids_asked_and_kept_for_the_window(app, registry, monkeypatch):
    building = registry.buildings[0]
    unit = building.units[0]
    shown = names.buildings.get([building.id, None, building.id])
    assert shown == {building.id: {
        "id": building.id, "name": building.name, "address": building.address,
        "community": "幸福社区", "grid": "第1网格",
    }}
    assert names.units.get([unit.id]) == {unit.id: unit.name}
    assert names.categories.get([registry.categories["elevator"].id]) == {
        registry.categories["elevator"].id: ("elevator", "电梯故障")
    }
    assert names.assignees.get([registry.professional.id]) == {
        registry.professional.id: {"role": "专业网格员", "name": "李建国"}
    }

    building.name = "1区1号楼（新）"
    db.session.commit()
    # SCAN_CACHE_SECONDS is 0 in tests: every call reads.
    assert names.buildings.get([building.id])[building.id]["name"] == "1区1号楼（新）"
    monkeypatch.setitem(app.config, "SCAN_CACHE_SECONDS", 60.0)
    assert names.buildings.get([building.id])[building.id]["name"] == "1区1号楼（新）"
    building.name = "1区1号楼"
    db.session.commit()
    assert names.buildings.get([building.id])[building.id]["name"] == "1区1号楼（新）"  # kept
    monkeypatch.setitem(app.config, "SCAN_CACHE_SECONDS", 0.0)
    assert names.buildings.get([building.id])[building.id]["name"] == "1区1号楼"  # window over
    assert names.buildings.get([999_999]) == {}
