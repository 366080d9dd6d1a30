# SPDX-License-Identifier: Apache-2.0
"""Read a list's roster as fan-out needs it (no ORM objects), a chunk at a time.

A list may have a million members: nothing here reads them all at once but
digest_subscribers (only the digest members) and roster_addresses (the roster
a public list shows).
"""

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.policy import Role, Subscriber
from listserv.core.recipients import DIGEST_MODES
from listserv.db.models import Member

ROSTER_CHUNK = 5000  # members read at a time: bounded memory whatever the list's size

_SUBSCRIBER = (Member.address, Member.match_key, Member.role, Member.delivery_mode,
               Member.delivery_status, Member.receive_own_posts, Member.skip_if_addressed,
               Member.moderated, Member.digest_since)


def chunk_query(list_id: int, after: int,
                size: int = ROSTER_CHUNK) -> Select[*tuple[Any, ...]]:
    """Up to size members after the member id given, in id order: keyset pagination, which
    ix_member_list_id answers by reading just those rows however far into the roster."""
    return (select(Member.id, *_SUBSCRIBER).where(Member.list_id == list_id, Member.id > after)
            .order_by(Member.id).limit(size))


async def subscriber_chunk(session: AsyncSession, list_id: int, after: int = 0,
                           size: int = ROSTER_CHUNK) -> tuple[list[Subscriber], int | None]:
    """Up to size members after the member id given, and the id to read on from (None:
    that was the last)."""
    # On the connection: the ORM's result machinery costs more than the rows themselves.
    connection = await session.connection()
    rows = (await connection.execute(chunk_query(list_id, after, size))).all()
    following = rows[-1][0] if len(rows) == size else None
    return [Subscriber._make(row[1:]) for row in rows], following


async def find_subscriber(session: AsyncSession, list_id: int, key: str) -> Subscriber | None:
    """The member with this match key, if any."""
    row = (await session.execute(select(*_SUBSCRIBER).where(
        Member.list_id == list_id, Member.match_key == key))).first()
    return Subscriber(*row) if row is not None else None


async def member_keys(session: AsyncSession, list_id: int,
                      keys: Collection[str]) -> set[str]:
    """Which of these match keys are the list's members."""
    if not keys:
        return set()
    return set(await session.scalars(select(Member.match_key).where(
        Member.list_id == list_id, Member.match_key.in_(keys))))


async def digest_subscribers(session: AsyncSession, list_id: int) -> list[Subscriber]:
    """The members who take the list as a digest."""
    rows = await session.execute(select(*_SUBSCRIBER).where(
        Member.list_id == list_id, Member.delivery_mode.in_(DIGEST_MODES)))
    return [Subscriber(*row) for row in rows]


async def has_digest_members(session: AsyncSession, list_id: int) -> bool:
    """Whether any member takes the list as a digest (ix_member_list_delivery_mode)."""
    return await session.scalar(select(Member.id).where(
        Member.list_id == list_id, Member.delivery_mode.in_(DIGEST_MODES)).limit(1)) is not None


async def roster_addresses(session: AsyncSession, list_id: int) -> list[str]:
    """Every member's address, as the list shows its roster."""
    return list(await session.scalars(select(Member.address).where(Member.list_id == list_id)
                                      .order_by(Member.id)))


async def staff_addresses(session: AsyncSession, list_id: int,
                          roles: tuple[Role, ...] = (Role.MODERATOR, Role.OWNER)) -> list[str]:
    """The addresses of the list's owners and moderators (or of the roles given)."""
    rows = await session.scalars(select(Member.address).where(Member.list_id == list_id,
                                                              Member.role.in_(roles))
                                 .order_by(Member.id))
    return list(rows)
