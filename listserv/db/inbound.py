# SPDX-License-Identifier: Apache-2.0
"""The queue of stored mail waiting to be processed."""

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import Inbound, InboundState


async def claim_incoming(session: AsyncSession, limit: int) -> Sequence[Inbound]:
    """The oldest messages waiting, locked for this transaction (other processes skip them)."""
    return (await session.scalars(
        select(Inbound).where(Inbound.state == InboundState.INCOMING)
        .order_by(Inbound.id).limit(limit).with_for_update(skip_locked=True))).all()


async def count_incoming(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Inbound)
                                    .where(Inbound.state == InboundState.INCOMING)) or 0)
