# SPDX-License-Identifier: Apache-2.0
"""Open the database: the async engine and session factory, with SQLite made durable.

Problems an operator must fix (a data directory this uid cannot write, a
database server that never answers) end as one ConfigError naming the
setting, not a traceback.
"""

import asyncio
import fcntl
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from listserv.db.migrate import upgrade
from listserv.errors import ConfigError

log = logging.getLogger(__name__)

URL_SETTING = "LISTSERV_DATABASE_URL"

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
            _writable_directory(Path(url.database))
        engine = _create_async_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine.sync_engine, read_only=read_only)
    else:
        engine = _create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    return engine, async_sessionmaker(engine, expire_on_commit=False)


def _writable_directory(database: Path) -> None:
    """Make the database's directory; refuse one this process cannot write (SQLite writes
    its journal beside the file)."""
    directory = database.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(directory, exc.strerror) from None
    try:  # by trying, not os.access: ACLs, read-only mounts and immutable files count too
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise _unwritable(directory, exc.strerror) from None
    if database.exists() and not os.access(database, os.R_OK | os.W_OK):
        raise _unwritable(database, "permission denied")


def _unwritable(path: Path, reason: str | None) -> ConfigError:
    return ConfigError(f"{URL_SETTING}: {path} is not writable ({reason}) by uid {os.getuid()}; "
                       f"give that uid write access (e.g. chown -R {os.getuid()} {path})")


def sqlite_file(async_url: str) -> Path | None:
    """The database file of a SQLite URL; None for other engines and in-memory databases."""
    url = make_url(async_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextmanager
def only_server(async_url: str) -> Iterator[None]:
    """Hold the SQLite file for this listserv serve: a second one on the same file refuses to
    start (SQLite has one writer; its queues cannot be shared). Nothing on other engines."""
    database = sqlite_file(async_url)
    if database is None:
        yield
        return
    _writable_directory(database)
    lock = database.with_name(database.name + ".serve-lock")
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{URL_SETTING}: another listserv serve uses {database}; on SQLite "
                              "one process serves (use PostgreSQL for several)") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    # The safety level is the connection's and cannot change inside a transaction.
    level = "FULL" if connection.get_execution_options().get(_SYNCED, True) else "NORMAL"
    if connection.info.get(_SYNCED) != level:
        connection.exec_driver_sql(f"PRAGMA synchronous={level}")
        connection.info[_SYNCED] = level
    connection.exec_driver_sql("BEGIN IMMEDIATE")


_SYNCED = "listserv_synced_commit"


async def commit_unsynced(session: AsyncSession) -> None:
    """Let the session's transaction (call this first in it) commit without waiting for
    the disk: it survives a crash of this process, not of the machine.

    Only for what is safe to lose that way: delivery results (a lost one repeats a
    delivery, as a crash does). SQLite in WAL mode with synchronous=NORMAL, and
    PostgreSQL's synchronous_commit=off, keep the database consistent; the next
    synced commit makes it durable too.
    """
    connection = await session.connection(execution_options={_SYNCED: False})
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


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
async def open_database(async_url: str, wait_seconds: float = 0
                        ) -> AsyncIterator[tuple[AsyncEngine, Sessions]]:
    """Open the database, apply pending migrations, and dispose of the engine on exit.

    A database server that does not answer (still starting, say) is tried
    again with backoff for wait_seconds, with one log line per try.
    """
    engine, sessions = create_engine(async_url)
    try:
        await _upgrade_when_reachable(engine, wait_seconds)
        yield engine, sessions
    finally:
        await engine.dispose()


FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 10.0


async def _upgrade_when_reachable(engine: AsyncEngine, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    pause = FIRST_RETRY_SECONDS
    while True:
        try:
            async with engine.connect():
                break
        except (OSError, DBAPIError) as exc:
            reason = _reason(exc)
            left = deadline - time.monotonic()
            if not _unreachable(exc):  # no such database, a wrong password: waiting won't help
                raise ConfigError(f"{URL_SETTING}: {reason}") from None
            if left <= 0:
                raise ConfigError(f"{URL_SETTING}: the database at {_where(engine)} did not "
                                  f"answer within {wait_seconds:g} s: {reason}") from None
            log.warning("the database at %s does not answer (%s); trying again in %.0f s",
                        _where(engine), reason, min(pause, left))
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_RETRY_SECONDS)
    await upgrade(engine)


def _unreachable(exc: BaseException) -> bool:
    """Whether the error says the server could not be reached (yet), not that it refused."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(cause).lower()
    return isinstance(cause, OSError) or "starting up" in text or "shutting down" in text


def _reason(exc: BaseException) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return (str(cause).strip().splitlines() or [cause.__class__.__name__])[0]


def _where(engine: AsyncEngine) -> str:
    url = engine.url
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}" \
        if url.get_backend_name() != "sqlite" else str(url.database)
