# SPDX-License-Identifier: Apache-2.0
"""Durable storing of received messages, with concurrent commits batched.

Every message is committed to the inbound table before the SMTP session may
answer 250 (docs/ARCHITECTURE.md, "Accepted means stored"). A commit costs a disk flush,
so the writer commits everything that arrived while the previous commit ran
in one transaction: one flush for many messages, none made less durable.
This module must not parse or judge messages; the pipeline does that.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from listserv.db.engine import create_sqlite_writer
from listserv.db.models import Inbound
from listserv.metrics import Metrics

log = logging.getLogger(__name__)

BUSY_SECONDS = 0.05
LINGER_SECONDS = 0.005  # the longest a commit waits for transactions under way


@dataclass(frozen=True, slots=True)
class Received:
    """One message for one list recipient, as it came in."""

    recipient: str
    mail_from: str
    message_id: str
    raw: bytes
    peer: str


@dataclass(frozen=True, slots=True)
class _Transaction:
    """The rows of one SMTP transaction and the future its session waits on."""

    messages: Sequence[Received]
    done: "asyncio.Future[None]"

    def settle(self, error: BaseException | None = None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)


class WriterStopped(Exception):
    """The writer was stopped before it could commit; the session answers 451."""


Rows = list[dict[str, object]]


class InboundWriter:
    """Commits received messages; store() returns only once they are on disk."""

    def __init__(self, engine: AsyncEngine, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._metrics = metrics
        # SQLite has one write lock, and a connection that finds it taken sleeps in its
        # busy handler (1, 2, 5… up to 100 ms between tries) long after it is free. All
        # of this process's writers, this one and the workers, queue here instead and
        # get the database the moment it is free.
        self.write_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self.on_commit: Callable[[], None] = lambda: None
        # How many SMTP transactions are under way, from MAIL FROM to their 250.
        self.underway: Callable[[], int] = lambda: 0
        self._last_commit = 0.0
        self._sqlite = create_sqlite_writer(engine.url.render_as_string(hide_password=False)) \
            if engine.dialect.name == "sqlite" else None
        # PostgreSQL: one connection kept for the writer's commits, which saves a pool
        # checkout and its liveness ping on every commit.
        self._connection: AsyncConnection | None = None
        self._queue: asyncio.Queue[_Transaction] = asyncio.Queue()
        self._batch: list[_Transaction] = []  # taken from the queue, not yet committed

    async def store(self, messages: Sequence[Received]) -> None:
        """Commit the rows of one SMTP transaction, all or none; raise if that failed."""
        transaction = _Transaction(messages, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(transaction)
        await transaction.done

    async def run(self) -> None:
        """Commit whatever is queued, batch after batch, until cancelled."""
        try:
            while True:
                self._batch = [await self._queue.get()]
                await self._gather(self._batch)
                await self._commit(self._batch)
                self._batch = []
        finally:
            # Nobody may wait for ever on a commit that will not happen.
            while not self._queue.empty():
                self._batch.append(self._queue.get_nowait())
            for transaction in self._batch:
                transaction.settle(WriterStopped("the inbound writer stopped"))

    async def _gather(self, batch: list[_Transaction]) -> None:
        """Add what is queued, and wait a moment for the other SMTP transactions under way.

        Their senders are about to store too: one flush serves them all, where
        committing at once would make them wait for this flush and then their own.
        """
        deadline = time.monotonic() + LINGER_SECONDS
        while True:
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            left = deadline - time.monotonic()
            if len(batch) >= self.underway() or left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    batch.append(await self._queue.get())

    async def _commit(self, batch: list[_Transaction]) -> None:
        try:
            await self._insert([message for t in batch for message in t.messages])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].settle(exc)
                return
            # One transaction's bad row must not fail the others: commit each alone.
            for transaction in batch:
                await self._commit([transaction])
            return
        for transaction in batch:
            transaction.settle()
        if self._metrics is not None:
            self._metrics.intake_commits.inc()
        self._last_commit = time.monotonic()
        self.on_commit()

    def busy(self) -> bool:
        """Whether messages are arriving right now: waiting to be committed, or one was
        committed a moment ago."""
        return bool(self._batch) or not self._queue.empty() \
            or time.monotonic() - self._last_commit < BUSY_SECONDS

    async def _insert(self, messages: Sequence[Received]) -> None:
        rows: Rows = [{"recipient": m.recipient, "mail_from": m.mail_from,
                       "message_id": m.message_id[:998], "raw": m.raw, "peer": m.peer}
                      for m in messages]
        if self._sqlite is not None:
            async with self.write_lock or contextlib.nullcontext():
                await asyncio.to_thread(_insert_in_thread, self._sqlite, rows)
            return
        try:
            await self._insert_kept(rows)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            # The server closed the kept connection (it restarted, or an operator
            # ended the session): once more on a fresh one, unseen by the senders.
            if self._connection is not None:
                await self._connection.close()
                self._connection = None
            await self._insert_kept(rows)

    async def _insert_kept(self, rows: Rows) -> None:
        if self._connection is None:
            # Autocommit: asyncpg sends the rows of one executemany with a single Sync,
            # and the server runs them as one implicit transaction, committed (and
            # flushed, synchronous_commit stays on) before it answers. All or none, as
            # in BEGIN … COMMIT, in one round trip instead of three.
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await self._connection.execute(insert(Inbound), rows)
        await self._connection.commit()  # SQLAlchemy's bookkeeping only: nothing is sent

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.dispose()
        if self._connection is not None:
            await self._connection.close()


def _insert_in_thread(engine: Engine, rows: Rows) -> None:
    with engine.begin() as connection:
        connection.execute(insert(Inbound), rows)
