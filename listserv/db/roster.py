# SPDX-License-Identifier: Apache-2.0
"""Read a list's roster fast, as the snapshots fan-out needs (no ORM objects)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.policy import Role, Subscriber
from listserv.db.models import Member


async def load_subscribers(session: AsyncSession, list_id: int) -> list[Subscriber]:
    rows = await session.execute(
        select(Member.address, Member.match_key, Member.role, Member.delivery_mode,
               Member.delivery_status, Member.receive_own_posts, Member.skip_if_addressed,
               Member.moderated)
        .where(Member.list_id == list_id))
    return [Subscriber(*row) for row in rows]


async def owner_addresses(session: AsyncSession, list_id: int) -> list[str]:
    rows = await session.scalars(select(Member.address).where(Member.list_id == list_id,
                                                              Member.role == Role.OWNER))
    return list(rows)
