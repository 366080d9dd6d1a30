# SPDX-License-Identifier: Apache-2.0
"""The clock's work, once a minute: expire and summarise held posts, send due digests,
follow up on bounces, and drop what is older than the retention time."""

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from listserv.db import retention
from listserv.db.models import now
from listserv.handling import bounces, digests, moderation
from listserv.workers.shared import Shared

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 60.0


class Housekeeper:
    """Does what falls due with time, in one transaction per round."""

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._retention = timedelta(days=shared.settings.retention_days)

    async def run(self) -> None:
        """A round now, then once a minute until stopped."""
        stopping = self._shared.stopping
        while not stopping.is_set():
            await self.round(now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), HOUSEKEEPING_SECONDS)

    async def round(self, moment: datetime) -> None:
        """The periodic work that is due at this moment (tests pass a moment of their own)."""
        async with self._shared.unit(origin="housekeeping", moment=moment) as work:
            await moderation.expire(work)
            await moderation.send_summaries(work)
            await digests.send_due(work)
            await bounces.housekeeping(work)
            pruned = await retention.prune(work.session, moment - self._retention)
        if any(pruned.values()):
            log.info("retention: dropped %s", ", ".join(
                f"{count} {what}" for what, count in pruned.items() if count))
        self._shared.jobs_ready.set()  # whatever this queued goes out now, not at the next poll
