"""Settings the app derives from its configuration."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp import create_app
from webapp.config import TestingConfig

POSTGRES = "postgresql+psycopg://user@db.example/grid"


def test_postgresql_sessions_plan_prepared_statements_once():
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=POSTGRES, DB_GENERIC_PLANS=True)
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
    assert "-c plan_cache_mode=force_generic_plan" in options


@pytest.mark.parametrize(
    "settings",
    [
        {"SQLALCHEMY_DATABASE_URI": POSTGRES, "DB_GENERIC_PLANS": False},
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "DB_GENERIC_PLANS": True},  # no such option there
    ],
)
def test_no_session_options_when_off_or_not_postgresql(settings):
    app = create_app(TestingConfig, **settings)
    assert "connect_args" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]


@pytest.mark.postgres
def test_the_test_suite_runs_postgresql_with_generic_plans(app, app_ctx):
    from webapp.extensions import db

    assert db.session.execute(sa.text("SHOW plan_cache_mode")).scalar() == "force_generic_plan"
