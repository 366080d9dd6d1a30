# SPDX-License-Identifier: Apache-2.0
"""Durable storing of received messages, with concurrent commits batched.

Every message is committed to the inbound table before the SMTP session may
answer 250 (DESIGN.md, "Accepted means stored"). A commit costs a disk flush,
so the writer commits everything that arrived while the previous commit ran
in one transaction: one flush for many messages, none made less durable.
This module must not parse or judge messages; the pipeline does that.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from listserv.db.models import Inbound

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """One message for one list recipient, as it came in."""

    recipient: str
    mail_from: str
    raw: bytes
    peer: str


_Batch = tuple[Sequence[Received], "asyncio.Future[None]"]


class InboundWriter:
    """Commits received messages; store() returns only once they are on disk."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[_Batch] = asyncio.Queue()

    async def store(self, messages: Sequence[Received]) -> None:
        """Commit the rows of one SMTP transaction, all or none; raise if that failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((messages, done))
        await done

    async def run(self) -> None:
        """Commit whatever is queued, batch after batch, until cancelled."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._insert([message for messages, _ in batch for message in messages])
            except Exception:
                # One transaction's bad row must not fail the others: retry each alone.
                for messages, done in batch:
                    await self._store_alone(messages, done)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _store_alone(self, messages: Sequence[Received], done: "asyncio.Future[None]") -> None:
        try:
            await self._insert(messages)
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    async def _insert(self, messages: Sequence[Received]) -> None:
        rows = [{"recipient": m.recipient, "mail_from": m.mail_from, "raw": m.raw,
                 "peer": m.peer} for m in messages]
        async with self._engine.begin() as connection:
            await connection.execute(insert(Inbound), rows)
