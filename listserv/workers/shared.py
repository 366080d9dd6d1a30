# SPDX-License-Identifier: Apache-2.0
"""What the loops of one process share: their events, the write lock, jobs handed from
processing to delivery, and how they open a unit of work."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from listserv.db import outbox
from listserv.db.engine import Sessions
from listserv.handling.context import Work, unit_of_work
from listserv.metrics import Metrics
from listserv.settings import Settings

POLL_SECONDS = 1.0
LEASE = timedelta(minutes=5)
LEASE_MARGIN = timedelta(minutes=1)  # time left on a lease for a transaction to finish


@dataclass(eq=False)
class Shared:
    """The state the processing, delivery and housekeeping loops share."""

    settings: Settings
    sessions: Sessions
    worker_id: str  # host:pid, recorded on what this process claims
    metrics: Metrics
    write_lock: asyncio.Lock | None = None  # SQLite: this process's writers take turns
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    inbound_ready: asyncio.Event = field(default_factory=asyncio.Event)
    jobs_ready: asyncio.Event = field(default_factory=asyncio.Event)
    leased: set[int] = field(default_factory=set)  # jobs claimed and not yet recorded
    # Jobs leased at queueing, not yet sending, with the end of their lease.
    handoff: list[tuple[outbox.Claimed, datetime]] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold this process's write turn (SQLite only)."""
        async with self.write_lock or contextlib.nullcontext():
            yield

    @contextlib.asynccontextmanager
    async def unit(self, *, origin: str = "", moment: datetime | None = None,
                   lease: outbox.Lease | None = None) -> AsyncIterator[Work]:
        """A unit of work in its own transaction, with this process's write turn."""
        async with self.writing(), unit_of_work(
                self.sessions, self.settings, origin=origin, worker=self.worker_id,
                moment=moment, lease=lease,
                metrics=self.metrics) as work:
            yield work

    async def nap(self, event: asyncio.Event) -> None:
        """Wait for the event, or a poll's time (another process may have queued work)."""
        if not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), POLL_SECONDS)
            event.clear()
