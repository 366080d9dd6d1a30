# SPDX-License-Identifier: Apache-2.0
"""What happened lately: accepted posts, repeated Message-IDs, and mail listserv wrote."""

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import Inbound, NoticeLog

ACCEPTED = "accepted"


async def seen_message_id(session: AsyncSession, *, list_id: int, message_id: str,
                          since: datetime, exclude_id: int) -> bool:
    """Whether a post with this Message-ID was accepted on the list since then."""
    if not message_id:
        return False
    # The window is checked here, not in SQL: given a range on received_at, SQLite
    # without statistics reads the list's whole window through (list_id, received_at)
    # instead of the one or two rows with this Message-ID.
    query = select(Inbound.received_at).where(
        Inbound.list_id == list_id, Inbound.message_id == message_id,
        Inbound.disposition == ACCEPTED, Inbound.id != exclude_id)
    return any(received >= since for received in await session.scalars(query))


async def accepted_since(session: AsyncSession, list_id: int, since: datetime) -> int:
    """How many posts the list accepted since then (its flood check)."""
    return int(await session.scalar(select(func.count()).select_from(Inbound).where(
        Inbound.list_id == list_id, Inbound.disposition == ACCEPTED,
        Inbound.received_at >= since)) or 0)


async def mark_accepted(session: AsyncSession, inbound_id: int) -> None:
    """Record a held post as accepted after all, so that a repeat of it is a duplicate."""
    await session.execute(update(Inbound).where(Inbound.id == inbound_id)
                          .values(disposition=ACCEPTED))


async def notices_since(session: AsyncSession, since: datetime, *, address: str | None = None,
                        list_id: int | None = None, kind: str | None = None) -> int:
    """How many messages listserv wrote since then, to the address, of the list, of the kind
    (each where given)."""
    query = select(func.count()).select_from(NoticeLog).where(NoticeLog.sent_at >= since)
    if address is not None:
        query = query.where(NoticeLog.address == address)
    if list_id is not None:
        query = query.where(NoticeLog.list_id == list_id)
    if kind is not None:
        query = query.where(NoticeLog.kind == kind)
    return int(await session.scalar(query) or 0)


async def last_notice_at(session: AsyncSession, list_id: int, kind: str) -> datetime | None:
    """When the list last sent a message of this kind."""
    return await session.scalar(select(func.max(NoticeLog.sent_at)).where(
        NoticeLog.list_id == list_id, NoticeLog.kind == kind))


def log_notice(session: AsyncSession, *, list_id: int, address: str, kind: str,
               now: datetime) -> None:
    session.add(NoticeLog(list_id=list_id, address=address, kind=kind, sent_at=now))
