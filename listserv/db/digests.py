# SPDX-License-Identifier: Apache-2.0
"""Queries on posts kept for digests and on the members owed one."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.digest_entries import Entry, Topic
from listserv.db.models import DigestItem, MailingList, Member


@dataclass(frozen=True, slots=True)
class Pending:
    """A post waiting for the list's next digest."""

    item_id: int
    post: Entry | bytes  # the post itself when it was kept without its entry
    size: int  # octets of the post as kept
    created_at: datetime


def keep_for_digest(session: AsyncSession, list_id: int, raw: bytes,
                    entry: Entry | None) -> None:
    """Keep the decorated post, and the form digests carry it in if it was read for them."""
    if entry is None:
        session.add(DigestItem(list_id=list_id, raw=raw))
        return
    session.add(DigestItem(
        list_id=list_id, raw=raw, digest_subject=entry.topic.subject,
        digest_author=entry.topic.author, digest_text=entry.text,
        digest_body=None if entry.attached == raw else entry.attached,
        digest_listed=entry.listed))


async def pending(session: AsyncSession, list_id: int) -> list[Pending]:
    rows = await session.execute(
        select(DigestItem.id, func.length(DigestItem.raw), DigestItem.created_at,
               # The post as a digest carries it, else the post itself (the same octets
               # if no entry was kept); raw is not read twice.
               func.coalesce(DigestItem.digest_body, DigestItem.raw),
               DigestItem.digest_listed, DigestItem.digest_text, DigestItem.digest_subject,
               DigestItem.digest_author)
        .where(DigestItem.list_id == list_id, DigestItem.digest_issue.is_(None))
        .order_by(DigestItem.id))
    return [Pending(item_id, body if text is None else Entry(
                Topic(subject or "", author or ""), body, listed, text), size, created_at)
            for item_id, size, created_at, body, listed, text, subject, author in rows]


async def pending_totals(session: AsyncSession) -> dict[int, tuple[int, datetime]]:
    """Octets collected and when the oldest post arrived, for each list with posts waiting."""
    rows = await session.execute(
        select(DigestItem.list_id, func.sum(func.length(DigestItem.raw)),
               func.min(DigestItem.created_at))
        .where(DigestItem.list_id.in_(select(MailingList.id)),
               DigestItem.digest_issue.is_(None))
        .group_by(DigestItem.list_id))
    return {list_id: (int(size or 0), oldest) for list_id, size, oldest in rows}


async def lists_owing(session: AsyncSession) -> set[int]:
    """The lists with members owed one last digest."""
    return set(await session.scalars(
        select(Member.list_id).where(Member.digest_owed_at.is_not(None)).distinct()))


async def lists_by_id(session: AsyncSession, ids: set[int]) -> Sequence[MailingList]:
    return (await session.scalars(select(MailingList).where(MailingList.id.in_(ids))
                                  .order_by(MailingList.id))).all()


async def owed_members(session: AsyncSession, list_id: int) -> Sequence[Member]:
    return (await session.scalars(select(Member).where(
        Member.list_id == list_id, Member.digest_owed_at.is_not(None)))).all()


async def count_owed(session: AsyncSession, list_id: int) -> int:
    return int(await session.scalar(select(func.count()).select_from(Member).where(
        Member.list_id == list_id, Member.digest_owed_at.is_not(None))) or 0)


async def lock_list(session: AsyncSession, mlist: MailingList) -> None:
    """Hold the list's row for this transaction, its digest numbering read afresh."""
    await session.execute(select(MailingList).where(MailingList.id == mlist.id)
                          .with_for_update().execution_options(populate_existing=True))


async def mark_sent(session: AsyncSession, items: Sequence[Pending], issue: int,
                    volume: int | None) -> None:
    """Record the issue the posts went out in (0: none, the list had no digest members)."""
    await session.execute(
        update(DigestItem).where(DigestItem.id.in_([item.item_id for item in items]))
        .values(digest_issue=issue, digest_volume=volume))
