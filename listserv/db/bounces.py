# SPDX-License-Identifier: Apache-2.0
"""Queries on bounce events and on the members whose scores they keep."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.policy import DeliveryStatus
from listserv.db.models import BounceEvent, MailingList, Member


def add_event(session: AsyncSession, *, list_id: int, member_id: int | None, address: str,
              kind: str, source: str, now: datetime, status: str = "", reason: str = "",
              inbound_id: int | None = None) -> None:
    session.add(BounceEvent(
        list_id=list_id, member_id=member_id, address=address[:320], kind=kind,
        status=status[:16], reason=reason, source=source, inbound_id=inbound_id,
        created_at=now, processed_at=now))


async def disabled_and_warned(session: AsyncSession) -> Sequence[tuple[Member, MailingList]]:
    """Members bounces disabled (not by hand: those have no bounce_warned_at), with lists."""
    rows = await session.execute(
        select(Member, MailingList).join(MailingList, Member.list_id == MailingList.id)
        .where(Member.delivery_status == DeliveryStatus.DISABLED_BY_BOUNCE,
               Member.bounce_warned_at.is_not(None)))
    return [(member, mlist) for member, mlist in rows.all()]


async def scored(session: AsyncSession) -> Sequence[tuple[Member, MailingList]]:
    """Members receiving mail whose bounce score is above nothing, with their lists."""
    rows = await session.execute(
        select(Member, MailingList).join(MailingList, Member.list_id == MailingList.id)
        .where(Member.bounce_score > 0, Member.delivery_status == DeliveryStatus.ENABLED))
    return [(member, mlist) for member, mlist in rows.all()]


async def lists_with_events(session: AsyncSession, since: datetime,
                            kinds: Sequence[str]) -> Sequence[int]:
    return (await session.scalars(select(BounceEvent.list_id).distinct().where(
        BounceEvent.created_at >= since, BounceEvent.kind.in_(kinds)))).all()


async def events_after(session: AsyncSession, list_id: int, after: datetime,
                       kinds: Sequence[str]) -> Sequence[BounceEvent]:
    return (await session.scalars(select(BounceEvent).where(
        BounceEvent.list_id == list_id, BounceEvent.created_at > after,
        BounceEvent.kind.in_(kinds)).order_by(BounceEvent.id))).all()
