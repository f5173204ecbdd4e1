"""Reads of the busiest GET views, outside the session's transaction.

`read_connection()` is a pooled connection for reads that need no transaction: in autocommit
on PostgreSQL (each statement reads its own snapshot; no BEGIN and COMMIT round trips; and
psycopg keeps its prepared statements, which a ROLLBACK would drop), a plain one on SQLite.

`ReadQuery` runs a Core statement on such a connection. On PostgreSQL it is compiled once and
run on psycopg's own connection: the page of a queue is read hundreds of times a second, and
SQLAlchemy's execution and result handling was about a tenth of its cost. What SQLAlchemy
would do to the parameters (its types' bind processors) is still done; the rows are psycopg's
tuples, untouched: select columns whose driver values are what the caller wants (timestamptz
arrive aware, in the session's time zone; a non-native enum arrives as its stored string:
type_coerce it to String). SQLAlchemy's execution events do not see these statements. On
SQLite the statement runs through SQLAlchemy as usual.

`among(column, connection)` is "column is one of the parameter ids" in the form that keeps a
statement the same whatever the number of ids.
"""
from __future__ import annotations

from sqlalchemy import ARRAY, any_, bindparam

from webapp.extensions import db


def read_connection():
    """A pooled connection for reads outside the session's transaction (a context manager)."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    # SQLite: toggling autocommit costs a PRAGMA on return to the pool; a plain read is cheaper.
    return engine.connect()


def among(column, dialect_name: str):
    """`column` is one of the bind parameter "ids" (a list): on PostgreSQL one array parameter
    (= ANY), so that the statement is one whatever the number of ids and psycopg prepares it
    once; an expanding IN elsewhere."""
    if dialect_name == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(column.type)))
    return column.in_(bindparam("ids", expanding=True))


class ReadQuery:
    """A Core statement to run again and again on a read_connection()."""

    def __init__(self, statement):
        self.statement = statement
        self._driver: _DriverQuery | None = None

    def rows(self, connection, params: dict) -> list[tuple]:
        dialect = connection.dialect
        if dialect.name != "postgresql":
            return connection.execute(self.statement, params).all()
        if self._driver is None:
            self._driver = _DriverQuery(self.statement, dialect)
        return self._driver.rows(connection, params)


class _DriverQuery:
    """A statement compiled once for a driver that takes named parameters (psycopg), run on
    the DBAPI connection with prepare=True."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.positional or compiled.literal_execute_params or "POSTCOMPILE" in compiled.string:
            raise ValueError("a driver query needs named parameters rendered once (no expanding IN)")
        self.sql = compiled.string
        self._compiled = compiled
        # The parameters SQLAlchemy would convert before handing them to the driver.
        self._processors = [
            (name, processor)
            for bind, name in compiled.bind_names.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def rows(self, connection, params: dict) -> list[tuple]:
        values = self._compiled.construct_params(params)
        for name, processor in self._processors:
            values[name] = processor(values[name])
        driver = connection.connection.driver_connection
        try:
            return driver.execute(self.sql, values, prepare=True).fetchall()
        except Exception:
            if driver.broken:  # the server went away: the pool must not hand it out again
                connection.invalidate()
            raise
