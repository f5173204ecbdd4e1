"""The schema is the migrations' work: upgrade builds it from empty and matches the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db, render_migration_item  # noqa: F401 - same env as migrations


def test_migrations_and_models_agree(app_ctx):
    """Autogenerate against the migrated test database finds no difference."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_upgrade_from_empty_and_downgrade(tmp_path):
    """`flask db upgrade` on an empty SQLite file, then all the way down and up again."""
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from webapp import create_app
    from webapp.config import TestingConfig

    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'm.sqlite3'}")
    with app.app_context():
        upgrade()
        assert "tickets" in sa.inspect(db.engine).get_table_names()
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "building_codes" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_create_app_runs_no_queries(monkeypatch):
    """Start-up only wires: nothing touches the database (no create_all, no queries)."""
    import sqlalchemy as sa

    from webapp import create_app
    from webapp.config import TestingConfig

    calls = []
    monkeypatch.setattr(sa.engine.Engine, "connect", lambda self, *a, **k: calls.append(a))
    create_app(TestingConfig, SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/x.sqlite3")
    assert calls == []
