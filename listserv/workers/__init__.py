# SPDX-License-Identifier: Apache-2.0
"""The loops inside ``listserv serve``: processing stored mail, delivering queued jobs,
and the clock's housekeeping, composed for one process.

Work is taken up within milliseconds when this process queued it (events),
and by polling when another process did.
"""

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from listserv.db import fanouts, outbox
from listserv.db.engine import Sessions
from listserv.db.inbound import count_incoming
from listserv.db.models import now
from listserv.metrics import Metrics
from listserv.settings import Settings
from listserv.workers.housekeeping import Housekeeper
from listserv.workers.processor import Processor
from listserv.workers.sender import Sender
from listserv.workers.shared import Shared

log = logging.getLogger(__name__)


class Workers:
    """The processing, delivery and housekeeping loops of one listserv process."""

    def __init__(self, settings: Settings, engine: AsyncEngine, sessions: Sessions,
                 metrics: Metrics, intake_busy: Callable[[], bool] = lambda: False,
                 write_lock: asyncio.Lock | None = None) -> None:
        self._engine = engine
        self._shared = Shared(settings, sessions, f"{socket.gethostname()}:{os.getpid()}",
                              metrics, write_lock)
        self._processor = Processor(self._shared, intake_busy)
        self._sender = Sender(self._shared)
        self._housekeeper = Housekeeper(self._shared)
        self.inbound_ready = self._shared.inbound_ready
        self.process_inbound = self._processor.run
        self.deliver = self._sender.run
        self.keep_house = self._housekeeper.run
        self.give_back = self._sender.give_back

    @property
    def worker_id(self) -> str:
        return self._shared.worker_id

    def stop(self) -> None:
        """Ask the loops to finish the work in hand and return."""
        shared = self._shared
        shared.stopping.set()
        shared.inbound_ready.set()
        shared.jobs_ready.set()

    async def housekeeping(self, moment: datetime) -> None:
        """One round of the clock's work at this moment (tests pass a moment of their own)."""
        await self._housekeeper.round(moment)

    async def release_leases(self) -> None:
        """At start: free the leases of processes that are gone, so their jobs go out now.

        On SQLite only this process can hold leases. On PostgreSQL those of
        dead processes on this machine (a kill -9, a crash; in a container the
        restarted process may even have the same pid) are freed; other
        machines' leases run out by themselves.
        """
        shared = self._shared
        holders: list[str] | None = None
        if self._engine.dialect.name != "sqlite":
            host, _, _ = self.worker_id.rpartition(":")
            async with shared.sessions() as session:
                found = await outbox.lease_holders(session, host)
            holders = [holder for holder in found if _gone(holder, self.worker_id)]
            if not holders:
                return
        async with shared.writing(), shared.sessions.begin() as session:
            freed = await outbox.release_leases(session, holders)
        if freed:
            log.warning("%d delivery jobs of a process that stopped without finishing them "
                        "are queued again", freed)

    async def idle(self) -> bool:
        """Whether nothing is waiting to be processed or delivered right now."""
        if self._shared.leased or self._sender.busy():
            return False
        async with self._shared.sessions() as session:
            return not await count_incoming(session) and not await fanouts.count(session) \
                and not await outbox.count_due(session, now())


def _gone(owner: str, worker_id: str) -> bool:
    """Whether the process that holds a lease (host:pid on this host) no longer runs."""
    if owner == worker_id:
        return True  # our own pid before this start: a former incarnation's lease
    pid = owner.rpartition(":")[2]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs, as another user
    return False
