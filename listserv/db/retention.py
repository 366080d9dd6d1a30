# SPDX-License-Identifier: Apache-2.0
"""Forgetting what is done with, after the retention time.

Every message is stored whole as it arrives, every outgoing message with a
row per recipient, every held post with its body. Once dealt with they serve
only a look back. After the retention time a processed message keeps its
row (the Message-ID for duplicate detection, the disposition and the rules'
reasons for the record) and loses its body; finished delivery jobs (with
their recipients), decided held posts, confirmation requests past their
expiry, the log of notices sent, the web form submissions counted and the
probes sent to members (a probe's bounce counts only while its probe is kept)
go. The archive is not touched: a list that archives nothing keeps no post
longer than this. Each call does a bounded amount of work, so that
housekeeping never holds the write lock long.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from listserv.db.models import (
    BounceProbe,
    DeliveryJob,
    FormSubmission,
    HeldMessage,
    Inbound,
    InboundState,
    JobState,
    NoticeLog,
    PendingConfirmation,
)

BATCH = 1000  # rows of each kind per call; housekeeping runs once a minute

# What goes once its moment is past the retention time, and what must hold besides.
_FINISHED: tuple[tuple[str, Any, InstrumentedAttribute[Any], ColumnElement[bool] | None], ...] = (
    # A finished job's next_attempt_at is its last try (its creation, if the first one did).
    ("delivery jobs", DeliveryJob, DeliveryJob.next_attempt_at,
     DeliveryJob.state.in_((JobState.DONE, JobState.FAILED))),
    ("held posts", HeldMessage, HeldMessage.decided_at, None),
    ("confirmation requests", PendingConfirmation, PendingConfirmation.expires_at, None),
    ("notices logged", NoticeLog, NoticeLog.sent_at, None),
    ("web form submissions", FormSubmission, FormSubmission.submitted_at, None),
    ("probes", BounceProbe, BounceProbe.sent_at, None),
)


async def prune(session: AsyncSession, before: datetime, batch: int = BATCH) -> dict[str, int]:
    """Drop what was finished before that moment, at most batch rows of each kind;
    return how many of each."""
    old = (select(Inbound.id)
           .where(Inbound.state == InboundState.DONE, Inbound.processed_at < before)
           .order_by(Inbound.processed_at).limit(batch))
    bodies = await session.execute(
        update(Inbound).where(Inbound.id.in_(old.scalar_subquery()))
        .values(raw=b"", state=InboundState.PRUNED).execution_options(synchronize_session=False))
    pruned = {"message bodies": bodies.rowcount}  # type: ignore[attr-defined]
    for name, model, moment, condition in _FINISHED:
        old = select(model.id).where(moment < before).order_by(moment).limit(batch)
        if condition is not None:
            old = old.where(condition)
        gone = await session.execute(delete(model).where(model.id.in_(old.scalar_subquery()))
                                     .execution_options(synchronize_session=False))
        pruned[name] = gone.rowcount  # type: ignore[attr-defined]
    return pruned
