"""The Flask application: create_app wires config, extensions, doors onto the domain and CLI."""
from __future__ import annotations

from flask import Flask

# Chinese validation messages, installed before any schema of the project is defined.
from webapp import validation_messages  # noqa: F401  # isort: skip
from webapp.config import Config, config_from_env
from webapp.json_provider import OrjsonProvider
from webapp.sessions import CookieSessionWhenSent


def create_app(config: type[Config] | None = None, **overrides) -> Flask:
    """Build the app from a config class (default: APP_ENV) and keyword overrides.

    Only wiring happens here: no queries, no schema creation, no network.
    """
    app = Flask(__name__, instance_relative_config=False)
    config = config or config_from_env()
    config.check()
    app.config.from_object(config)
    app.config.update(overrides)
    app.json = OrjsonProvider(app)
    app.session_interface = CookieSessionWhenSent()
    _postgresql_session_options(app)

    from flask_smorest import Api

    from webapp import tables  # noqa: F401 - registers every feature's tables
    from webapp.extensions import (
        db,
        end_reads_with_commit,
        end_sessions_on_lost_connections,
        migrate,
        render_migration_item,
    )

    db.init_app(app)
    end_sessions_on_lost_connections(app)
    migrate.init_app(
        app,
        db,
        directory=str(_migrations_dir()),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_item,
    )
    from webapp.errors import ErrorSchema

    class DocumentedApi(Api):
        ERROR_SCHEMA = ErrorSchema  # the error shape every answer really has

    api = DocumentedApi(app)

    import miniprogram_api

    miniprogram_api.register(api, app)

    from webapp.console import bp as console_bp
    from webapp.h5 import bp as h5_bp
    from webapp.home import bp as home_bp

    for blueprint in (home_bp, h5_bp, console_bp):
        app.register_blueprint(blueprint)

    from webapp.wechat_callback import bp as wechat_callback_bp

    app.register_blueprint(wechat_callback_bp)

    from webapp.errors import register_error_handlers

    register_error_handlers(app)

    from webapp.inputs import register_input_guard

    register_input_guard(app)

    from webapp.security import register_security

    register_security(app)

    from webapp.limits import init_limits, limit_console

    limit_console(console_bp)
    init_limits(app)
    # Registered last so it runs first after the view: a response it replaces (a 503 when the
    # database is lost at the read's COMMIT) still passes every other hook (security headers).
    end_reads_with_commit(app)

    from webapp.cli import register_cli

    register_cli(app)
    return app


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).parent / "migrations"


def _postgresql_session_options(app: Flask) -> None:
    """Settings of every PostgreSQL session the app opens (libpq "options")."""
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not url.startswith("postgresql") or not app.config.get("DB_GENERIC_PLANS"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["options"] = (connect_args.get("options", "") + " -c plan_cache_mode=force_generic_plan").strip()
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
