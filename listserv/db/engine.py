# SPDX-License-Identifier: Apache-2.0
"""Open the database: the async engine and session factory, with SQLite made durable."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from listserv.db.migrate import upgrade

Sessions = async_sessionmaker[AsyncSession]


def create_engine(async_url: str, *, read_only: bool = False) -> tuple[AsyncEngine, Sessions]:
    """Create the engine and a session factory for an async database URL.

    On SQLite every transaction of the normal engine starts with BEGIN
    IMMEDIATE: a transaction that reads and then writes would otherwise fail
    with SQLITE_BUSY when another connection committed in between, instead of
    waiting its turn. A read_only engine keeps SQLite's deferred BEGIN, so
    lookups (RCPT TO) never wait for a writer.
    """
    url = make_url(async_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = _create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine.sync_engine, read_only=read_only)
    else:
        engine = _create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


def create_sqlite_writer(async_url: str) -> Engine:
    """A synchronous engine on the same SQLite file, for work done whole in a thread.

    aiosqlite hops to its thread for every statement; a batch written with
    this engine inside asyncio.to_thread costs one hop for BEGIN, INSERT and
    COMMIT together.
    """
    url = make_url(async_url).set(drivername="sqlite+pysqlite")
    engine = _create_engine(url, connect_args={"timeout": 30})
    _configure_sqlite(engine, read_only=False)
    return engine


def _configure_sqlite(engine: Engine, *, read_only: bool) -> None:
    event.listen(engine, "connect", _durable_sqlite)
    if not read_only:
        event.listen(engine, "begin", _begin_immediate)


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _durable_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes a commit
    # survive power loss, which "accepted means stored" needs (docs/ARCHITECTURE.md).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Let SQLAlchemy's "begin" event, not the driver, start transactions.
    dbapi_connection.isolation_level = None


@asynccontextmanager
async def open_database(async_url: str) -> AsyncIterator[tuple[AsyncEngine, Sessions]]:
    """Open the database, apply pending migrations, and dispose of the engine on exit."""
    engine, sessions = create_engine(async_url)
    try:
        await upgrade(engine)
        yield engine, sessions
    finally:
        await engine.dispose()
