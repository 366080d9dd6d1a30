# SPDX-License-Identifier: Apache-2.0
"""Reading the archive for its pages: the lists a visitor may read, their threads,
months and posts.

Only reads. A post's raw bytes and its text are loaded only where a caller
asks for them. A post's date is its Date header, else when it was archived.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defer
from sqlalchemy.sql.selectable import Select

from listserv.core.policy import ArchiveVisibility
from listserv.db.models import ArchivedMessage, MailingList, Member

POSTED = func.coalesce(ArchivedMessage.sent_at, ArchivedMessage.archived_at)
_NUMBERS = range(1, 2**63)  # what a column of ids or sequence numbers can hold


def dated_in(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Posts dated from start until (not including) end."""
    return and_(POSTED.__ge__(start), POSTED.__lt__(end))


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    posts: int
    last_posted: datetime | None  # of the post archived last


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    thread_id: int
    posts: int
    subject: str  # the first post's
    author_address: str
    author_name: str
    last_posted: datetime  # of the post archived last


async def readable_lists(session: AsyncSession, member_key: str | None) -> Sequence[MailingList]:
    """Lists whose archive is public, and those for members that member_key belongs to."""
    readable: ColumnElement[bool] = MailingList.archive_visibility == ArchiveVisibility.PUBLIC
    if member_key:
        readable = or_(readable, and_(
            MailingList.archive_visibility == ArchiveVisibility.MEMBERS,
            MailingList.id.in_(select(Member.list_id).where(Member.match_key == member_key))))
    return (await session.scalars(select(MailingList).where(readable)
                                  .order_by(MailingList.address))).all()


async def summaries(session: AsyncSession, list_ids: Sequence[int]) -> dict[int, ArchiveSummary]:
    """How many posts each list has archived, and the date of its latest."""
    counted = (select(ArchivedMessage.list_id, func.count().label("posts"),
                      func.max(ArchivedMessage.seq).label("last_seq"))
               .where(ArchivedMessage.list_id.in_(list_ids))
               .group_by(ArchivedMessage.list_id).subquery())
    rows = await session.execute(
        select(counted.c.list_id, counted.c.posts, POSTED)
        .join(ArchivedMessage, and_(ArchivedMessage.list_id == counted.c.list_id,
                                    ArchivedMessage.seq == counted.c.last_seq)))
    return {list_id: ArchiveSummary(posts, last) for list_id, posts, last in rows}


async def count_threads(session: AsyncSession, list_id: int) -> int:
    return int(await session.scalar(
        select(func.count(ArchivedMessage.thread_id.distinct()))
        .where(ArchivedMessage.list_id == list_id)) or 0)


async def threads(session: AsyncSession, list_id: int, offset: int,
                  limit: int) -> list[ThreadSummary]:
    """A page of the list's threads, the one with the latest post first."""
    grouped = (select(ArchivedMessage.thread_id, func.count().label("posts"),
                      func.max(ArchivedMessage.seq).label("last_seq"))
               .where(ArchivedMessage.list_id == list_id)
               .group_by(ArchivedMessage.thread_id)
               .order_by(func.max(ArchivedMessage.seq).desc())
               .offset(offset).limit(limit).subquery())
    first, last = aliased(ArchivedMessage), aliased(ArchivedMessage)
    rows = await session.execute(
        select(grouped.c.thread_id, grouped.c.posts, first.subject, first.author_address,
               first.author_name, func.coalesce(last.sent_at, last.archived_at))
        .join(first, first.id == grouped.c.thread_id)
        .join(last, and_(last.list_id == list_id, last.seq == grouped.c.last_seq))
        .order_by(grouped.c.last_seq.desc()))
    return [ThreadSummary(*row) for row in rows]


def _posts(list_id: int) -> Select[ArchivedMessage]:
    return select(ArchivedMessage).where(ArchivedMessage.list_id == list_id)


def _without_raw(query: Select[ArchivedMessage]) -> Select[ArchivedMessage]:
    return query.options(defer(ArchivedMessage.raw, raiseload=True),
                         defer(ArchivedMessage.body_text, raiseload=True))


async def thread_posts(session: AsyncSession, list_id: int, thread_id: int, *,
                       raw: bool) -> Sequence[ArchivedMessage]:
    """The thread's posts in the order they were archived; with their raw bytes if asked."""
    if thread_id not in _NUMBERS:  # a number from a URL: no such thread, not an error
        return []
    query = _posts(list_id).where(ArchivedMessage.thread_id == thread_id)
    query = query.options(defer(ArchivedMessage.body_text)) if raw else _without_raw(query)
    return (await session.scalars(query.order_by(ArchivedMessage.seq))).all()


async def post_by_message_id(session: AsyncSession, list_id: int,
                             message_id: str) -> ArchivedMessage | None:
    """The post with this Message-ID ('<id>'); the first archived when it repeats."""
    if "\x00" in message_id:  # no stored id has one, and PostgreSQL refuses it in text
        return None
    return await session.scalar(_posts(list_id).where(ArchivedMessage.message_id == message_id)
                                .order_by(ArchivedMessage.seq).limit(1))


async def post_by_seq(session: AsyncSession, list_id: int, seq: int) -> ArchivedMessage | None:
    if seq not in _NUMBERS:
        return None
    return await session.scalar(_posts(list_id).where(ArchivedMessage.seq == seq))


def _month_key(session: AsyncSession) -> ColumnElement[str]:
    """A post's month as 'YYYY-MM' (UTC) in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", POSTED), "YYYY-MM", type_=String)
    return func.substr(POSTED, 1, 7, type_=String)  # SQLite keeps 'YYYY-MM-DD hh:mm:ss'


async def month_counts(session: AsyncSession, list_id: int) -> dict[str, int]:
    """How many posts the list has from each month ('2005-01')."""
    month = _month_key(session)
    rows = await session.execute(select(month, func.count())
                                 .where(ArchivedMessage.list_id == list_id).group_by(month))
    return {key: count for key, count in rows if key}


async def month_posts(session: AsyncSession, list_id: int, start: datetime,
                      end: datetime) -> Sequence[ArchivedMessage]:
    """The list's posts dated from start until end, in date order, without their text."""
    return (await session.scalars(_without_raw(
        _posts(list_id).where(dated_in(start, end))
        .order_by(POSTED, ArchivedMessage.seq)))).all()


async def latest_posts(session: AsyncSession, list_id: int,
                       limit: int) -> Sequence[ArchivedMessage]:
    """The posts archived last, newest first, with their text but not their raw bytes."""
    return (await session.scalars(
        _posts(list_id).options(defer(ArchivedMessage.raw, raiseload=True))
        .order_by(ArchivedMessage.seq.desc()).limit(limit))).all()
