"""Reads of the busiest GET views, outside the session's transaction.

`read_connection()` is a pooled connection for reads that need no transaction: in autocommit
on PostgreSQL (each statement reads its own snapshot; no BEGIN and COMMIT round trips; and
psycopg keeps its prepared statements, which a ROLLBACK would drop), a plain one on SQLite.

`DriverQuery` runs a Core statement, compiled once, on psycopg's own connection: the page of a
queue is read hundreds of times a second, and SQLAlchemy's execution and result handling was
about a tenth of its cost. What SQLAlchemy would do to the parameters (its types' bind
processors) is still done; the rows are psycopg's tuples, untouched: select columns whose
driver values are what the caller wants (timestamptz arrive aware, in the session's time
zone; a non-native enum arrives as its stored string: type_coerce it to String). SQLAlchemy's
execution events do not see these statements.
"""
from __future__ import annotations

from webapp.extensions import db


def read_connection():
    """A pooled connection for reads outside the session's transaction (a context manager)."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    # SQLite: toggling autocommit costs a PRAGMA on return to the pool; a plain read is cheaper.
    return engine.connect()


class DriverQuery:
    """A Core statement compiled once for a dialect whose driver takes named parameters
    (psycopg), run on the DBAPI connection with prepare=True."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.positional or compiled.literal_execute_params or "POSTCOMPILE" in compiled.string:
            raise ValueError("DriverQuery needs named parameters rendered once (no expanding IN)")
        self.sql = compiled.string
        self._compiled = compiled
        # The parameters SQLAlchemy would convert before handing them to the driver.
        self._processors = [
            (name, processor)
            for bind, name in compiled.bind_names.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def rows(self, connection, params: dict) -> list[tuple]:
        """The rows of the statement with these parameters, on a SQLAlchemy Connection."""
        values = self._compiled.construct_params(params)
        for name, processor in self._processors:
            values[name] = processor(values[name])
        driver = connection.connection.driver_connection
        return driver.execute(self.sql, values, prepare=True).fetchall()
