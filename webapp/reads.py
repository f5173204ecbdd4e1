"""Statements of the hottest paths, run with as little between them and the driver as possible.

`read_connection()` is a pooled connection for reads that need no transaction: in autocommit
on PostgreSQL (autocommit_engine: each statement reads its own snapshot; no BEGIN and COMMIT
round trips; and psycopg keeps its prepared statements, which a ROLLBACK would drop), a plain
one on SQLite. A write that is one statement may run there too: it commits by itself.

`PreparedStatement` runs a Core statement (a read, or a write such as the submission's) on a
connection: a read_connection(), the session's, or an engine's of its own. On PostgreSQL it is
compiled once and run on psycopg's own connection, prepared: the page of a queue is read
hundreds of times a second, and SQLAlchemy's execution and result handling was about a tenth
of its cost (a quarter of the submission's statements'). What SQLAlchemy would do to the
parameters (its types' bind processors) is still done; the rows are psycopg's tuples (or named
tuples: `first`), untouched: select columns whose driver values are what the caller wants
(timestamptz arrive aware, in the session's time zone; a non-native enum arrives as its stored
string: type_coerce it to String). SQLAlchemy's execution events do not see these statements.
On SQLite the statement runs through SQLAlchemy as usual (its rows have the same names).

`among(column, dialect_name)` is "column is one of the parameter ids" in the form that keeps a
statement the same whatever the number of ids.
"""
from __future__ import annotations

import copy
import os
import threading
import weakref
from collections import namedtuple

from flask import current_app
from psycopg import RawCursor
from psycopg.rows import namedtuple_row
from sqlalchemy import ARRAY, Engine, any_, bindparam, create_engine

from webapp.extensions import db


def read_connection():
    """A pooled connection for reads outside the session's transaction, or for a write that is
    one statement (a context manager): autocommit_engine()'s on PostgreSQL, the app's on
    SQLite (toggling autocommit there costs a PRAGMA on return to the pool; a plain read is
    cheaper)."""
    if db.engine.dialect.name == "postgresql":
        return autocommit_engine().connect()
    return db.engine.connect()


def session_in_transaction() -> bool:
    """Whether the request's session has begun a transaction (read or written anything that
    a statement on another connection would not see, or that it must commit with)."""
    sessions = db.session.registry  # the request's session, if it was made yet
    return sessions.has() and sessions().in_transaction()


_autocommit_engines: dict = {}  # (pid, url, (pool and session settings)) → engine
# The same engines by the app's engine: found without reading the settings at each request.
_autocommit_by_app_engine: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_autocommit_lock = threading.RLock()


def autocommit_engine() -> Engine:
    """This process's engine in autocommit on the app's database (PostgreSQL), apart from the
    app's pool, for statements outside the session's transaction: no BEGIN and COMMIT round
    trips, and no isolation level switched and reset at each checkout. A request that holds
    a session connection never waits for a second one from the same pool (with as many
    threads as the pool has connections, that wait would never end).

    Each statement commits by itself, durably (the server's synchronous_commit).

    Its pool keeps as many connections as the app's (pool_size), beyond which extra ones are
    opened and closed; pre-ping, recycling and the sessions' options (generic plans) as the
    app's (SQLALCHEMY_ENGINE_OPTIONS). One per database and settings; a forked process makes
    its own.
    dispose_autocommit_engines() empties them (a lost database: webapp/errors.py)."""
    app_engine = db.engine
    mine = _autocommit_by_app_engine.get(app_engine)
    if mine is not None and mine[0] == os.getpid():
        return mine[1]
    engine = _autocommit_engine(app_engine.url)
    with _autocommit_lock:
        _autocommit_by_app_engine[app_engine] = (os.getpid(), engine)
    return engine


def _autocommit_engine(url) -> Engine:
    options = current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    # The app's session options (libpq "options": plan_cache_mode, webapp/__init__.py).
    session_options = str((options.get("connect_args") or {}).get("options") or "")
    pool = (
        int(options.get("pool_size") or 5),
        bool(options.get("pool_pre_ping", False)),
        int(options.get("pool_recycle") or -1),
        session_options,
    )
    key = (os.getpid(), url, pool)
    engine = _autocommit_engines.get(key)
    if engine is None:
        with _autocommit_lock:
            engine = _autocommit_engines.get(key)
            if engine is None:
                pool_size, pre_ping, recycle, session_options = pool
                engine = create_engine(
                    url,
                    isolation_level="AUTOCOMMIT",
                    pool_size=pool_size,
                    max_overflow=-1,
                    pool_pre_ping=pre_ping,
                    pool_recycle=recycle,
                    pool_reset_on_return=None,  # autocommit: no transaction to end
                    connect_args={**(options.get("connect_args") or {}), "options": session_options},
                )
                _autocommit_engines[key] = engine
    return engine


def dispose_autocommit_engines() -> None:
    """Close the idle connections of this process's autocommit engines (those in use are
    dropped when returned): after a database restart each would fail one request."""
    pid = os.getpid()
    for (owner, *_settings), engine in list(_autocommit_engines.items()):
        if owner == pid:
            engine.dispose()


def among(column, dialect_name: str, name: str = "ids"):
    """`column` is one of the bind parameter `name` (a list): on PostgreSQL one array
    parameter (= ANY), so that the statement is one whatever the number of ids and psycopg
    prepares it once; an expanding IN elsewhere."""
    if dialect_name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class PreparedStatement:
    """A Core statement to run again and again (see the module's docstring)."""

    def __init__(self, statement):
        self.statement = statement
        self._driver: _DriverStatement | None = None

    def _on_driver(self, connection):
        if connection.dialect.name != "postgresql":
            return None
        if self._driver is None:
            self._driver = _DriverStatement(self.statement, connection.dialect)
        return self._driver

    def rows(self, connection, params: dict) -> list[tuple]:
        driver = self._on_driver(connection)
        if driver is None:
            return connection.execute(self.statement, params).all()
        return driver.run(connection, params).fetchall()

    def all(self, connection, params: dict) -> list:
        """Every row, their columns readable by name (row.building_id)."""
        driver = self._on_driver(connection)
        if driver is None:
            return connection.execute(self.statement, params).all()
        if driver.row_type is None:  # names known only from the result
            return driver.run(connection, params, row_factory=namedtuple_row).fetchall()
        make = driver.row_type._make
        return [make(row) for row in driver.run(connection, params).fetchall()]

    def first(self, connection, params: dict):
        """The first row, its columns readable by name (row.building_id), or None."""
        driver = self._on_driver(connection)
        if driver is None:
            return connection.execute(self.statement, params).first()
        if driver.row_type is None:  # names known only from the result
            return driver.run(connection, params, row_factory=namedtuple_row).fetchone()
        row = driver.run(connection, params).fetchone()
        return driver.row_type._make(row) if row is not None else None


class _DriverStatement:
    """A statement compiled once, with PostgreSQL's own numbered placeholders ($1, $2...), run
    on psycopg's connection by a raw cursor (psycopg.RawCursor) with prepare=True. psycopg
    parses the text of a statement with named placeholders at every execution when the text is
    longer than 4 KB (the submission's facts statement); a raw query is sent as it is. Its text
    must be final at compile time: no expanding IN (use among()), no parameter SQLAlchemy
    renders into the text per execution (a literal_execute one, such as aggregate_strings'
    separator given as a str: give it as literal_column)."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=_numbered(dialect))
        if compiled.literal_execute_params or "POSTCOMPILE" in compiled.string:
            raise ValueError("a driver statement needs parameters rendered once (no expanding IN)")
        self.sql = compiled.string.encode()
        self._compiled = compiled
        self._order = tuple(compiled.positiontup)  # the parameters' names, $1 first
        # Rows by name, the names from the statement's columns: psycopg's own named rows read
        # every name from each result.
        names = [column.key for column in getattr(statement, "selected_columns", ())]
        self.row_type = (
            namedtuple("Row", names)
            if names and all(
                isinstance(name, str) and name.isidentifier() and not name.startswith("_") for name in names
            )
            and len(set(names)) == len(names)
            else None
        )
        # The parameters SQLAlchemy would convert before handing them to the driver.
        self._processors = [
            (name, processor)
            for bind, name in compiled.bind_names.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def run(self, connection, params: dict, row_factory=None):
        """The psycopg cursor of the executed statement."""
        values = self._compiled.construct_params(params)
        for name, processor in self._processors:
            values[name] = processor(values[name])
        driver = connection.connection.driver_connection
        try:
            cursor = RawCursor(driver, row_factory=row_factory) if row_factory else RawCursor(driver)
            return cursor.execute(self.sql, [values[name] for name in self._order], prepare=True)
        except Exception:
            if driver.broken:  # the server went away: the pool must not hand it out again
                connection.invalidate()
            raise


def _numbered(dialect):
    """The connection's dialect (its server version and settings), compiling numbered
    placeholders ($1: SQLAlchemy's "numeric_dollar" parameter style) instead of psycopg's
    %(name)s; its identifier preparer made anew, as a "%" is no longer doubled."""
    twin = copy.copy(dialect)
    twin.paramstyle = "numeric_dollar"
    twin.positional = True
    twin.identifier_preparer = twin.preparer(twin)
    return twin
