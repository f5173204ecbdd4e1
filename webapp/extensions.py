"""Flask extensions, created unbound and wired in create_app."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def render_migration_item(type_, obj, autogen_context):
    """Let autogenerate write our column types as plain SQLAlchemy types in migrations."""
    from webapp.columns import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def end_reads_with_commit(app) -> None:
    """End the transaction of a successful GET or HEAD with a COMMIT (it wrote nothing, or
    what a read view wrote on purpose), not the ROLLBACK of the session's teardown.

    psycopg forgets a connection's prepared statements on every ROLLBACK, so a read view's
    queries were parsed and planned by PostgreSQL on every request; after a COMMIT they are
    prepared once per connection (after psycopg's 5 runs) and run from the prepared plan.
    Writes (POST, ...) commit in their views; an error (status >= 400) still rolls back.
    """
    from flask import request

    @app.after_request
    def _commit_read(response):
        if request.method in ("GET", "HEAD") and response.status_code < 400 and db.session().in_transaction():
            db.session.commit()
        return response
