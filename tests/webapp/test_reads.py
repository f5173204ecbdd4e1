"""webapp.reads: reads outside the session's transaction; on PostgreSQL run on psycopg itself
with SQLAlchemy's parameter conversions, and a connection lost on the way is not reused."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.factories import make_registry
from webapp.extensions import db
from webapp.reads import PreparedStatement, among, read_connection
from webapp.registry.models import Building
from webapp.tickets.models import Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def registry(app_ctx):
    return make_registry()


def _buildings(dialect: str):
    return (
        sa.select(Building.id, Building.name)
        .where(among(Building.id, dialect))
        .order_by(Building.id)
    )


def test_rows_of_the_ids_asked_whatever_their_number(registry):
    buildings = registry.buildings
    with read_connection() as connection:
        query = PreparedStatement(_buildings(connection.dialect.name))
        for count in (1, 2, len(buildings)):
            wanted = buildings[:count]
            rows = query.rows(connection, {"ids": [b.id for b in wanted]})
            assert [tuple(r) for r in rows] == [(b.id, b.name) for b in wanted]
        assert query.rows(connection, {"ids": []}) == []


def test_first_reads_columns_by_name_as_sqlalchemy_does(registry):
    """first(): the first row with its columns by name, the same row SQLAlchemy's execute
    gives (psycopg's named rows, or a row type made once from the statement's columns)."""
    building = registry.buildings[1]
    labelled = _buildings(db.engine.dialect.name).add_columns(
        sa.func.upper(Building.name).label("shouting")
    )
    with read_connection() as connection:
        for statement in (labelled, sa.text("SELECT id, name FROM buildings WHERE id = :ids")):
            params = {"ids": [building.id] if statement is labelled else building.id}
            row = PreparedStatement(statement).first(connection, params)
            expected = connection.execute(statement, params).first()
            assert tuple(row) == tuple(expected) and row.id == building.id == expected.id
            assert row.name == building.name
        assert PreparedStatement(labelled).first(connection, {"ids": []}) is None


def test_a_statement_with_a_text_rendered_per_execution_is_refused(registry):
    """An expanding IN (or a literal_execute parameter) is rendered into the text at each
    execution: no prepared statement on PostgreSQL; among() and literal_column() instead."""
    statement = sa.select(Building.id).where(Building.id.in_(sa.bindparam("ids", expanding=True)))
    with read_connection() as connection:
        if connection.dialect.name != "postgresql":
            assert PreparedStatement(statement).rows(connection, {"ids": []}) == []
            return
        with pytest.raises(ValueError, match="rendered once"):
            PreparedStatement(statement).rows(connection, {"ids": []})


def test_parameters_are_converted_as_sqlalchemy_would(registry):
    """A bound timestamp goes through UTCDateTime (a naive one is refused; psycopg alone would
    take it), and comes back as the same instant."""
    query = PreparedStatement(sa.select(sa.bindparam("at", type_=Ticket.created_at.type)))
    local = datetime(2026, 11, 22, 16, 30, 5, 123456, tzinfo=SHANGHAI)
    with read_connection() as connection:
        (back,), = query.rows(connection, {"at": local})
        assert back == local and back.utcoffset() is not None
        with pytest.raises(Exception, match="naive"):
            query.rows(connection, {"at": datetime(2026, 11, 22, 8, 30)})
        with pytest.raises(sa.exc.SQLAlchemyError, match="required"):
            query.rows(connection, {})


def test_reads_see_committed_rows_only(registry):
    building = registry.buildings[0]
    building.name = "未提交的名字"
    db.session.flush()  # the session's transaction holds it; a read connection does not
    with read_connection() as connection:
        rows = PreparedStatement(_buildings(connection.dialect.name)).rows(connection, {"ids": [building.id]})
    assert rows[0][1] != "未提交的名字"
    db.session.rollback()


@pytest.mark.postgres
def test_on_postgresql_in_autocommit_past_sqlalchemy_events(registry):
    executed = []
    ids = {"ids": [registry.buildings[0].id]}

    def count(conn, cursor, statement, parameters, context, executemany):
        executed.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        with read_connection() as connection:
            rows = PreparedStatement(_buildings("postgresql")).rows(connection, ids)
            driver = connection.connection.driver_connection
            assert driver.autocommit
            assert driver.info.transaction_status.name == "IDLE"  # no transaction left open
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(rows) == 1 and executed == []


@pytest.mark.postgres
def test_a_connection_lost_during_a_read_is_not_handed_out_again(registry):
    query = PreparedStatement(_buildings("postgresql"))
    ids = {"ids": [registry.buildings[0].id]}
    with read_connection() as connection:
        query.rows(connection, ids)
        pid = connection.connection.driver_connection.info.backend_pid
        with db.engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        with pytest.raises(Exception):
            query.rows(connection, ids)
        assert connection.invalidated
    with read_connection() as connection:  # a fresh connection from the pool
        assert connection.connection.driver_connection.info.backend_pid != pid
        assert len(query.rows(connection, ids)) == 1


def test_all_reads_every_row_by_name_with_a_parameter_used_twice_and_a_percent(registry):
    """all(): every row by name. The statement is sent with numbered placeholders on
    PostgreSQL ($1...): a parameter used twice is one number, and a "%" in the text is sent
    as it is (no doubling as psycopg's own placeholders would need)."""
    first, second = registry.buildings[0], registry.buildings[1]
    statement = (
        sa.select(Building.id, Building.name, sa.literal_column("'100%'").label("share"))
        .where(sa.or_(Building.id == sa.bindparam("one"), Building.id == sa.bindparam("two")))
        .where(Building.id != sa.bindparam("one") + 1000000)
        .order_by(Building.id)
    )
    with read_connection() as connection:
        rows = PreparedStatement(statement).all(connection, {"one": first.id, "two": second.id})
        expected = connection.execute(statement, {"one": first.id, "two": second.id}).all()
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert [(r.id, r.name, r.share) for r in rows] == [(first.id, first.name, "100%"), (second.id, second.name, "100%")]


@pytest.mark.postgres
def test_the_autocommit_engine_is_apart_from_the_app_pool_and_durable(registry):
    from webapp.reads import autocommit_engine

    engine = autocommit_engine()
    assert engine is autocommit_engine() and engine is not db.engine
    with db.engine.connect() as connection:  # the app's sessions' settings (DB_GENERIC_PLANS)
        plans = connection.exec_driver_sql("SHOW plan_cache_mode").scalar()
    with engine.connect() as connection:
        assert connection.connection.driver_connection.autocommit
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == plans


@pytest.mark.postgres
def test_a_token_is_checked_outside_the_session_s_transaction(registry):
    """A request's authentication on PostgreSQL reads on a connection of its own (no BEGIN and
    COMMIT for it); a caller with its own transaction under way reads in it (uncommitted)."""
    from tests.factories import make_person
    from webapp.people.auth import authenticate, start_session
    from webapp.reads import session_in_transaction

    person_id = make_person("居民甲", openid="o-outside").id
    token, _ttl = start_session(person_id)
    assert authenticate(token).person_id == person_id  # uncommitted: read in the transaction
    db.session.commit()
    db.session.remove()
    assert authenticate(token).person_id == person_id
    assert not session_in_transaction()
