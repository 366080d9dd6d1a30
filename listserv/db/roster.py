# SPDX-License-Identifier: Apache-2.0
"""Read a list's roster fast, as the snapshots fan-out needs (no ORM objects)."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.policy import Role, Subscriber
from listserv.db.models import Member


async def load_subscribers(session: AsyncSession, list_id: int) -> list[Subscriber]:
    rows = await session.execute(
        select(Member.address, Member.match_key, Member.role, Member.delivery_mode,
               Member.delivery_status, Member.receive_own_posts, Member.skip_if_addressed,
               Member.moderated, Member.digest_since)
        .where(Member.list_id == list_id))
    return [Subscriber(*row) for row in rows]


async def roster_version(session: AsyncSession, list_id: int) -> tuple[int, datetime | None]:
    """What changes whenever the roster does: the member count and the latest updated_at.

    Every change of a member row goes through the ORM (updated_at's onupdate)
    or sets updated_at itself; a removal changes the count.
    """
    count, latest = (await session.execute(
        select(func.count(), func.max(Member.updated_at)).where(Member.list_id == list_id))).one()
    return int(count), latest


async def staff_addresses(session: AsyncSession, list_id: int,
                          roles: tuple[Role, ...] = (Role.MODERATOR, Role.OWNER)) -> list[str]:
    """The addresses of the list's owners and moderators (or of the roles given)."""
    rows = await session.scalars(select(Member.address).where(Member.list_id == list_id,
                                                              Member.role.in_(roles))
                                 .order_by(Member.id))
    return list(rows)
