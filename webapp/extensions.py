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
    A database lost at that COMMIT is the door's 503, as anywhere in the view: what the view
    wrote on purpose (a personal-data access record) did not happen, so its page is not sent.
    """
    from flask import request

    from webapp.errors import database_unavailable_response, is_database_unavailable

    @app.after_request
    def _commit_read(response):
        if request.method in ("GET", "HEAD") and response.status_code < 400 and db.session().in_transaction():
            try:
                db.session.commit()
            except Exception as error:
                if not is_database_unavailable(error):
                    raise
                return database_unavailable_response(error)
        return response


def end_sessions_on_lost_connections(app) -> None:
    """End each request's transaction before Flask-SQLAlchemy's teardown closes the session
    (registered later, this runs first), so that a database lost under that ROLLBACK is
    logged instead of raised: the response, already made, stands (a raise there reaches
    gunicorn, which answers 500 in its place). SQLAlchemy drops a connection it sees broken;
    the pool is emptied too, as the 503 does, when the server itself is gone."""
    from webapp.errors import discard_lost_session, is_database_unavailable

    @app.teardown_appcontext
    def _end_transaction(exc):
        if not db.session.registry.has():
            return  # the request opened no session
        session = db.session()
        if not session.in_transaction():
            return
        try:
            session.rollback()
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            discard_lost_session(error)
