# SPDX-License-Identifier: Apache-2.0
"""The processing loop: stored mail, oldest first, through handling, a batch per transaction;
between batches, the next chunk of members of a post to a large list.

A message whose processing raises is marked failed with its traceback and
kept for ``listserv queue``; it never blocks the queue or vanishes. In a
flood, intake goes first: the sending MTAs wait for it, processing can lag.
"""

import asyncio
import logging
import time
import traceback
from collections.abc import Callable

from listserv import logs
from listserv.db import outbox
from listserv.db.inbound import claim_incoming
from listserv.db.models import Inbound, InboundState, now
from listserv.errors import Unprocessable
from listserv.handling.context import Work
from listserv.handling.distribution import continue_fanout
from listserv.handling.processing import process_stored
from listserv.workers.shared import LEASE, Shared

log = logging.getLogger(__name__)

PROCESS_BATCH = 10  # messages per processing transaction
FANOUT_PER_TRANSACTION = 1000  # recipients queued before a batch commits early
GIVE_WAY_MAX = 1.0  # seconds processing may wait for a busy intake
GIVE_WAY_STEP = 0.01
# Jobs handed to the sender in memory before a large list's next chunk is queued: the
# queue, not this process, holds the rest of a million members' jobs.
HANDOFF_MAX = 150
HANDOFF_WAIT = 0.05  # seconds


class Processor:
    """Runs stored messages through handling and hands their jobs to delivery."""

    def __init__(self, shared: Shared, intake_busy: Callable[[], bool]) -> None:
        self._shared = shared
        self._intake_busy = intake_busy
        self._fanning = True  # a post may be partly queued: look for it

    async def run(self) -> None:
        """Process stored messages until stopped."""
        shared = self._shared
        while not shared.stopping.is_set():
            busy = await self._give_way_to_intake()
            # While mail pours in, hold the (SQLite) write lock only briefly.
            if not await self.process_batch(limit=1 if busy else PROCESS_BATCH) \
                    and not await self.fan_out():
                await shared.nap(shared.inbound_ready)

    async def _give_way_to_intake(self) -> bool:
        """While mail is pouring in, accept it first and process it a little later.

        A message is processed at least every GIVE_WAY_MAX seconds all the
        same. Returns whether intake is still busy.
        """
        deadline = time.monotonic() + GIVE_WAY_MAX
        while self._intake_busy() and time.monotonic() < deadline \
                and not self._shared.stopping.is_set():
            await asyncio.sleep(GIVE_WAY_STEP)
        return self._intake_busy()

    async def process_batch(self, limit: int = PROCESS_BATCH) -> bool:
        """Process a batch of the oldest waiting messages; False if none waits.

        One transaction for the batch (one disk flush), a savepoint for each
        message so that one failure is kept as failed without undoing the rest.
        """
        shared = self._shared
        lease = outbox.Lease(shared.worker_id, now() + LEASE)
        done: list[tuple[str, str]] = []  # (list, disposition), counted once committed
        async with shared.unit(lease=lease) as work:
            rows = await claim_incoming(work.session, limit)
            for row in rows:
                if work.queued >= FANOUT_PER_TRANSACTION:
                    break  # commit, so delivery can start; the rest waits for the next batch
                done.append(await _process(work, row))
        for address, disposition in done:
            shared.metrics.processed.labels(address, disposition).inc()
        self._hand_off(work, lease)
        self._fanning = self._fanning or bool(rows)  # a post to a large list goes on
        return bool(rows)

    async def fan_out(self) -> bool:
        """Queue the next chunk of members of a post to a large list; False if none waits.

        While the sender has a chunk's jobs in hand, this waits a moment instead, so
        the jobs kept in memory stay few however large the list.
        """
        shared = self._shared
        if len(shared.handoff) >= HANDOFF_MAX:
            if self._fanning:
                await asyncio.sleep(HANDOFF_WAIT)
            return self._fanning
        lease = outbox.Lease(shared.worker_id, now() + LEASE)
        async with shared.unit(lease=lease, origin="fan-out") as work:
            self._fanning = await continue_fanout(work)
        self._hand_off(work, lease)
        return self._fanning

    def _hand_off(self, work: Work, lease: outbox.Lease) -> None:
        """Committed: the jobs queued are ours to send, without claiming them again."""
        shared = self._shared
        if work.leased:
            shared.leased.update(job.job_id for job in work.leased)
            shared.handoff.extend((job, lease.until) for job in work.leased)
            shared.jobs_ready.set()


async def _process(work: Work, row: Inbound) -> tuple[str, str]:
    """Process one row in a savepoint; return its list and disposition (or failed)."""
    row_id, message_id, recipient = row.id, row.message_id or "(no Message-ID)", row.recipient
    leased = len(work.leased)
    try:
        with logs.about(message_id=row.message_id, list=recipient, queue_id=f"inbound:{row_id}"):
            async with work.session.begin_nested():
                address = await process_stored(work, row)
        return address, row.disposition or "done"
    except Exception as exc:
        del work.leased[leased:]  # rolled back with the savepoint: nothing to send
        row.state = InboundState.FAILED
        if isinstance(exc, Unprocessable):
            log.error("%s (inbound %d): %s", message_id, row_id, exc)
            row.error = str(exc)
        else:
            log.exception("%s (inbound %d): processing failed; kept as failed",
                          message_id, row_id)
            row.error = traceback.format_exc()
        return recipient, str(InboundState.FAILED)
