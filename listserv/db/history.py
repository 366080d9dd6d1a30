# SPDX-License-Identifier: Apache-2.0
"""What happened lately: repeated Message-IDs and automatic mail sent to an address."""

from datetime import datetime

from sqlalchemy import func, select
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


async def notices_since(session: AsyncSession, address: str, since: datetime) -> int:
    """How many automatic messages went to this address since then."""
    query = select(func.count()).select_from(NoticeLog).where(
        NoticeLog.address == address, NoticeLog.sent_at >= since)
    return int(await session.scalar(query) or 0)


def log_notice(session: AsyncSession, *, list_id: int, address: str, kind: str,
               now: datetime) -> None:
    session.add(NoticeLog(list_id=list_id, address=address, kind=kind, sent_at=now))
