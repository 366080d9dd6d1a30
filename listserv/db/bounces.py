# SPDX-License-Identifier: Apache-2.0
"""Queries on bounce events, on the probes sent to members, and on the members whose
scores they keep."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.policy import DeliveryStatus
from listserv.db.models import BounceEvent, BounceProbe, MailingList, Member


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


async def add_probe(session: AsyncSession, *, list_id: int, member_id: int,
                    inbound_id: int | None, now: datetime) -> BounceProbe:
    """Record a probe sent to a member (its id is in its VERP address's tag)."""
    probe = BounceProbe(list_id=list_id, member_id=member_id, inbound_id=inbound_id,
                        sent_at=now)
    session.add(probe)
    await session.flush()
    return probe


async def open_probes(session: AsyncSession, member_id: int) -> Sequence[BounceProbe]:
    """The member's probes whose address no mail came back to yet."""
    return (await session.scalars(select(BounceProbe).where(
        BounceProbe.member_id == member_id, BounceProbe.bounced_at.is_(None)))).all()


async def probed_since(session: AsyncSession, list_id: int, since: datetime) -> set[str]:
    """The match keys of the list's members sent a probe since then."""
    return set((await session.scalars(
        select(Member.match_key).join(BounceProbe, BounceProbe.member_id == Member.id)
        .where(BounceProbe.list_id == list_id, BounceProbe.sent_at >= since))).all())


async def count_probes(session: AsyncSession, list_id: int, after: datetime) -> int:
    return int(await session.scalar(select(func.count()).select_from(BounceProbe).where(
        BounceProbe.list_id == list_id, BounceProbe.sent_at > after)) or 0)


async def lists_with_events(session: AsyncSession, since: datetime, kinds: Sequence[str],
                            sources: Sequence[str]) -> Sequence[int]:
    """The lists with events of these kinds, or from these sources, since then."""
    return (await session.scalars(select(BounceEvent.list_id).distinct().where(
        BounceEvent.created_at >= since,
        or_(BounceEvent.kind.in_(kinds), BounceEvent.source.in_(sources))))).all()


async def events_after(session: AsyncSession, list_id: int, after: datetime,
                       kinds: Sequence[str], sources: Sequence[str]) -> Sequence[BounceEvent]:
    """The list's events of these kinds, or from these sources, after then."""
    return (await session.scalars(select(BounceEvent).where(
        BounceEvent.list_id == list_id, BounceEvent.created_at > after,
        or_(BounceEvent.kind.in_(kinds), BounceEvent.source.in_(sources)))
        .order_by(BounceEvent.id))).all()
