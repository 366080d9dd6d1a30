# SPDX-License-Identifier: Apache-2.0
"""Queries on members: add, import, change, remove, list."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from listserv.core.addresses import Mailbox, parse_address
from listserv.core.policy import DeliveryMode, Role
from listserv.core.recipients import DIGEST_MODES
from listserv.core.roster import RosterEntry
from listserv.db.models import MailingList, Member, now
from listserv.errors import Conflict, InvalidAddress, NotFound

IMPORT_CHUNK = 5000


async def add_member(session: AsyncSession, mlist: MailingList, mailbox: Mailbox, *,
                     display_name: str = "", role: Role = Role.MEMBER) -> Member:
    """Subscribe one address; Conflict if it (in any letter case) is a member already."""
    if await find_member(session, mlist, mailbox.key) is not None:
        raise Conflict(f"{mailbox} is already a member of {mlist.address}")
    member = Member(list_id=mlist.id, address=str(mailbox), match_key=mailbox.key,
                    display_name=display_name, role=role)
    session.add(member)
    await session.flush()
    return member


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    already_members: list[RosterEntry]


async def import_members(session: AsyncSession, mlist: MailingList,
                         entries: Sequence[RosterEntry],
                         progress: Callable[[int], object] = lambda _: None) -> ImportResult:
    """Add many members in bulk; addresses already on the list (or repeated) are skipped."""
    taken = set(await session.scalars(select(Member.match_key)
                                      .where(Member.list_id == mlist.id)))
    rows, skipped = [], []
    stamp = now()
    for entry in entries:
        key = entry.mailbox.key
        if key in taken:
            skipped.append(entry)
            continue
        taken.add(key)
        rows.append({"list_id": mlist.id, "address": str(entry.mailbox), "match_key": key,
                     "display_name": entry.name, "created_at": stamp, "updated_at": stamp})
    connection = await session.connection()  # core executemany: the ORM's costs double
    for start in range(0, len(rows), IMPORT_CHUNK):
        chunk = rows[start:start + IMPORT_CHUNK]
        await connection.execute(insert(Member.__table__), chunk)  # type: ignore[arg-type]
        progress(len(chunk))
    return ImportResult(len(rows), skipped)


async def after_import(sessions: async_sessionmaker[AsyncSession], result: ImportResult) -> None:
    """Once a big import is committed, tell PostgreSQL's planner how big the list has grown.

    Until autovacuum gets round to it (a minute or more), the planner takes the
    list for a small one and answers each fan-out chunk by reading and sorting
    the whole list instead of walking ix_member_list_id. SQLite plans without
    statistics and needs nothing.
    """
    if result.added < IMPORT_CHUNK:
        return
    async with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("ANALYZE member"))


async def find_member(session: AsyncSession, mlist: MailingList, key: str) -> Member | None:
    return await session.scalar(select(Member).where(Member.list_id == mlist.id,
                                                     Member.match_key == key))


async def remove_member(session: AsyncSession, member: Member) -> None:
    await session.delete(member)
    await session.flush()


async def get_member(session: AsyncSession, mlist: MailingList, address: str) -> Member:
    """The member with this address (any letter case), or NotFound."""
    try:
        key = parse_address(address).key
    except InvalidAddress:
        raise NotFound(f"{address} is not a member of {mlist.address}") from None
    member = await find_member(session, mlist, key)
    if member is None:
        raise NotFound(f"{address} is not a member of {mlist.address}")
    return member


def update_member(member: Member, values: Mapping[str, Any]) -> None:
    """Apply parsed settings (core.list_settings.MEMBER_SETTINGS) to a member."""
    for name, value in values.items():
        if name == "delivery_mode":
            set_delivery_mode(member, value)
        else:
            setattr(member, name, value)


def set_delivery_mode(member: Member, mode: DeliveryMode) -> None:
    """Change how a member receives the list; every change of mode goes through here.

    A member who leaves regular delivery got the posts collected until now one
    by one: digest_since records the moment, and their digests hold only the
    posts collected since. One who leaves digest delivery for regular mail is
    owed the posts collected until now: listserv.handling.digests sends them in
    one last digest to that member alone (within a minute, or at ``listserv
    digests send``). One who takes digests again before it went out gets them
    in the list's next digest instead, as before they left.
    """
    regular = DeliveryMode.REGULAR
    if member.delivery_mode is regular and mode in DIGEST_MODES \
            and member.digest_owed_at is not None:
        member.digest_owed_at = member.digest_owed_mode = None
    elif member.delivery_mode is regular and mode is not regular:
        # The clock of digest_item.created_at, which says what was collected until now.
        member.digest_since = now()
    elif member.delivery_mode in DIGEST_MODES and mode is regular:
        member.digest_owed_at, member.digest_owed_mode = now(), member.delivery_mode
    member.delivery_mode = mode


async def list_members(session: AsyncSession, mlist: MailingList, *, after: str = "",
                       offset: int = 0, limit: int | None = None) -> Sequence[Member]:
    """The members in match-key order (unique per list, so pages are stable): all of them,
    or a page of them after a match key or from an offset."""
    query = select(Member).where(Member.list_id == mlist.id)
    if after:
        query = query.where(Member.match_key > after)
    query = query.order_by(Member.match_key).offset(offset or None).limit(limit)
    return (await session.scalars(query)).all()


async def count_members(session: AsyncSession, mlist: MailingList) -> int:
    query = select(func.count()).select_from(Member).where(Member.list_id == mlist.id)
    return int(await session.scalar(query) or 0)


def describe_member(member: Member) -> dict[str, Any]:
    """A member as plain JSON-able data."""
    return {
        "address": member.address,
        "display_name": member.display_name,
        "role": member.role,
        "delivery_mode": member.delivery_mode,
        "delivery_status": member.delivery_status,
        "moderated": member.moderated,
        "receive_own_posts": member.receive_own_posts,
        "skip_if_addressed": member.skip_if_addressed,
        "bounce_score": member.bounce_score,
        "created_at": member.created_at.isoformat(),
    }


def roster_rows(members: Iterable[Member]) -> Iterable[tuple[str, str]]:
    return ((member.display_name, member.address) for member in members)
