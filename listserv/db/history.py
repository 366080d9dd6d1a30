# SPDX-License-Identifier: Apache-2.0
"""What happened lately: repeated Message-IDs and automatic mail sent to an address."""

from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import Inbound, NoticeLog

ACCEPTED = "accepted"


async def seen_message_id(session: AsyncSession, *, list_id: int, message_id: str,
                          since: datetime, exclude_id: int) -> bool:
    """Whether a post with this Message-ID was accepted on the list since then."""
    if not message_id:
        return False
    query = select(exists().where(
        Inbound.list_id == list_id, Inbound.message_id == message_id,
        Inbound.disposition == ACCEPTED, Inbound.received_at >= since, Inbound.id != exclude_id))
    return bool(await session.scalar(query))


async def notices_since(session: AsyncSession, address: str, since: datetime) -> int:
    """How many automatic messages went to this address since then."""
    query = select(func.count()).select_from(NoticeLog).where(
        NoticeLog.address == address, NoticeLog.sent_at >= since)
    return int(await session.scalar(query) or 0)


def log_notice(session: AsyncSession, *, list_id: int, address: str, kind: str,
               now: datetime) -> None:
    session.add(NoticeLog(list_id=list_id, address=address, kind=kind, sent_at=now))
