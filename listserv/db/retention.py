# SPDX-License-Identifier: Apache-2.0
"""Forgetting what is done with: the bodies of processed mail, finished deliveries.

Every message is stored whole as it arrives, and every outgoing message with
a row per recipient; once processed or delivered they serve only a look
back. After the retention time a processed message keeps its row (the
Message-ID for duplicate detection, the disposition and the rules' reasons
for the record) and loses its body; a finished delivery job goes, with its
recipients. The archive is not touched: a list that archives nothing keeps
no post longer than this. Each call does a bounded amount of work, so that
housekeeping never holds the write lock for long.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import DeliveryJob, Inbound, InboundState, JobState

BATCH = 1000  # rows of each kind per call; housekeeping runs once a minute


@dataclass(frozen=True, slots=True)
class Pruned:
    bodies: int  # processed messages whose body was dropped
    jobs: int  # finished delivery jobs deleted


async def prune(session: AsyncSession, before: datetime, batch: int = BATCH) -> Pruned:
    """Drop what was finished before that moment, at most batch rows of each kind."""
    old_messages = Inbound.id.in_(
        select(Inbound.id)
        .where(Inbound.state == InboundState.DONE, Inbound.processed_at < before)
        .order_by(Inbound.processed_at).limit(batch).scalar_subquery())
    bodies = await session.execute(update(Inbound).where(old_messages).values(
        raw=b"", state=InboundState.PRUNED).execution_options(synchronize_session=False))
    # A finished job's next_attempt_at is its last try (its creation, if the first one did).
    old_jobs = DeliveryJob.id.in_(
        select(DeliveryJob.id)
        .where(DeliveryJob.state.in_((JobState.DONE, JobState.FAILED)),
               DeliveryJob.next_attempt_at < before)
        .order_by(DeliveryJob.next_attempt_at).limit(batch).scalar_subquery())
    jobs = await session.execute(delete(DeliveryJob).where(old_jobs).execution_options(
        synchronize_session=False))
    return Pruned(bodies.rowcount, jobs.rowcount)  # type: ignore[attr-defined]
