# SPDX-License-Identifier: Apache-2.0
"""What waits, and why: the data behind ``listserv queue``."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import (
    DeliveryJob,
    DeliveryRecipient,
    HeldMessage,
    Inbound,
    InboundState,
    JobState,
    MailingList,
    PendingConfirmation,
    RecipientState,
    now,
)

SHOWN = 50  # rows listed per section; the counts cover everything


async def queue_summary(session: AsyncSession, moment: datetime | None = None) -> dict[str, Any]:
    """Counts per state, plus the failed and retried items with their last error."""
    moment = moment or now()
    inbound_counts = {state: count for state, count in await session.execute(
        select(Inbound.state, func.count()).group_by(Inbound.state))}
    job_counts = {state: count for state, count in await session.execute(
        select(DeliveryJob.state, func.count()).group_by(DeliveryJob.state))}
    waiting_recipients = await session.scalar(
        select(func.count()).select_from(DeliveryRecipient)
        .where(DeliveryRecipient.state == RecipientState.PENDING))
    failed_inbound = (await session.scalars(
        select(Inbound).where(Inbound.state == InboundState.FAILED)
        .order_by(Inbound.id.desc()).limit(SHOWN))).all()
    troubled_jobs = (await session.scalars(
        select(DeliveryJob).where(DeliveryJob.last_error.is_not(None),
                                  DeliveryJob.state != JobState.DONE)
        .order_by(DeliveryJob.next_attempt_at).limit(SHOWN))).all()
    held = {address: count for address, count in await session.execute(
        select(MailingList.address, func.count()).join(HeldMessage)
        .where(HeldMessage.decided_at.is_(None)).group_by(MailingList.address))}
    waiting = PendingConfirmation.used_at.is_(None) & (PendingConfirmation.expires_at > moment)
    confirmations = await session.scalar(
        select(func.count()).select_from(PendingConfirmation).where(waiting))
    pending = (await session.execute(
        select(MailingList.address, PendingConfirmation).join(PendingConfirmation)
        .where(waiting).order_by(PendingConfirmation.expires_at).limit(SHOWN))).all()
    return {
        "inbound": {str(state): count for state, count in inbound_counts.items()},
        "inbound_failed": [{"id": row.id, "recipient": row.recipient,
                            "message_id": row.message_id, "received_at": row.received_at,
                            "error": (row.error or "").strip().splitlines()[-1:]}
                           for row in failed_inbound],
        "held": held,
        "pending_confirmations": int(confirmations or 0),
        # Never the token: whoever has it can confirm.
        "confirmations_waiting": [{"list": address, "action": row.action,
                                   "address": row.address, "created_at": row.created_at,
                                   "expires_at": row.expires_at} for address, row in pending],
        "delivery_jobs": {str(state): count for state, count in job_counts.items()},
        "recipients_waiting": int(waiting_recipients or 0),
        "delivery_problems": [{"id": job.id, "kind": job.kind, "message_id": job.message_id,
                               "state": str(job.state), "attempts": job.attempts,
                               "next_attempt_at": job.next_attempt_at,
                               "last_error": job.last_error} for job in troubled_jobs],
    }


async def depths(session: AsyncSession) -> dict[str, tuple[int, datetime | None]]:
    """For each queue, how much waits and since when: stored mail not yet processed,
    recipients not yet delivered, held posts not yet decided."""
    inbound = (await session.execute(
        select(func.count(), func.min(Inbound.received_at))
        .where(Inbound.state == InboundState.INCOMING))).one()
    delivery = (await session.execute(
        select(func.count(), func.min(DeliveryJob.created_at)).select_from(DeliveryRecipient)
        .join(DeliveryJob, DeliveryJob.id == DeliveryRecipient.job_id)
        .where(DeliveryRecipient.state == RecipientState.PENDING))).one()
    held = (await session.execute(
        select(func.count(), func.min(HeldMessage.held_at))
        .where(HeldMessage.decided_at.is_(None)))).one()
    return {name: (int(count or 0), oldest) for name, (count, oldest)
            in (("inbound", inbound), ("delivery", delivery), ("held", held))}


async def retry_now(session: AsyncSession, moment: datetime) -> int:
    """Make every delivery job waiting for its next attempt due now; return how many."""
    result = await session.execute(
        update(DeliveryJob).where(DeliveryJob.state == JobState.PENDING,
                                  DeliveryJob.next_attempt_at > moment)
        .values(next_attempt_at=moment))
    return int(result.rowcount)  # type: ignore[attr-defined]
