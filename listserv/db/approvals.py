# SPDX-License-Identifier: Apache-2.0
"""Wrong moderator passwords per list, for the hourly limit on guessing them."""

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import ApprovalFailure


async def failures_since(session: AsyncSession, list_id: int, since: datetime) -> list[str]:
    """The senders of the posts with a wrong password since then, oldest first."""
    return list(await session.scalars(
        select(ApprovalFailure.sender).where(ApprovalFailure.list_id == list_id,
                                             ApprovalFailure.failed_at >= since)
        .order_by(ApprovalFailure.failed_at, ApprovalFailure.id)))


async def record_failure(session: AsyncSession, list_id: int, sender: str, *, now: datetime,
                         forget_before: datetime) -> None:
    """Count a wrong password, and forget the list's failures too old to count any more."""
    await session.execute(delete(ApprovalFailure).where(
        ApprovalFailure.list_id == list_id, ApprovalFailure.failed_at < forget_before))
    session.add(ApprovalFailure(list_id=list_id, sender=sender[:320], failed_at=now))

