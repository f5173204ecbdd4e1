"""flask demo setup: migrate, import the sample, issue codes; safe to run at every start."""
from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.registry.models import Building, BuildingCode


def test_demo_setup_twice_leaves_every_building_with_one_active_code(app, runner):
    first = runner.invoke(args=["demo", "setup"])
    assert first.exit_code == 0, first.output
    assert "楼栋：新增 30" in first.output
    assert "新签发二维码 30 个" in first.output
    assert "https://grid.example.cn/b/" in first.output

    second = runner.invoke(args=["demo", "setup"])
    assert second.exit_code == 0, second.output
    assert "楼栋：新增 0，更新 0，未变 30" in second.output
    assert "新签发二维码 0 个" in second.output

    with app.app_context():
        buildings = db.session.scalar(select(func.count()).select_from(Building))
        active = db.session.scalars(
            select(BuildingCode.building_id).where(BuildingCode.revoked_at.is_(None))
        ).all()
        assert buildings == 30
        assert sorted(active) == sorted(set(active))
        assert len(active) == buildings
        first_url = next(line for line in first.output.splitlines() if "/b/" in line)
        code = first_url.rsplit("/b/", 1)[1]
        assert code in {c for c in db.session.scalars(select(BuildingCode.code))}


def test_demo_setup_serves_the_printed_building_page(app, runner, client):
    result = runner.invoke(args=["demo", "setup"])
    url = next(line for line in result.output.splitlines() if "/b/" in line).split("：", 1)[1]

    response = client.get(url.removeprefix("https://grid.example.cn"))

    assert response.status_code == 200
    assert "幸福家园1号楼" in response.get_data(as_text=True)
