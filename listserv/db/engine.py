# SPDX-License-Identifier: Apache-2.0
"""Open the database: the async engine and session factory, with SQLite made durable."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from listserv.db.migrate import upgrade

Sessions = async_sessionmaker[AsyncSession]


def create_engine(async_url: str) -> tuple[AsyncEngine, Sessions]:
    """Create the engine and a session factory for an async database URL."""
    url = make_url(async_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = _create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _durable_sqlite)
    else:
        engine = _create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


def _durable_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; synchronous=FULL makes a commit
    # survive power loss, which "accepted means stored" needs (DESIGN.md).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@asynccontextmanager
async def open_database(async_url: str) -> AsyncIterator[tuple[AsyncEngine, Sessions]]:
    """Open the database, apply pending migrations, and dispose of the engine on exit."""
    engine, sessions = create_engine(async_url)
    try:
        await upgrade(engine)
        yield engine, sessions
    finally:
        await engine.dispose()
