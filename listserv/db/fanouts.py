# SPDX-License-Identifier: Apache-2.0
"""Posts still being queued for large lists: start, claim the next, move on, count.

A post is queued a roster chunk per transaction; the row keeps the member id
the next chunk starts after, and moves it in the transaction that queues the
chunk, so every member is queued exactly once whatever stops in between.
Claims use FOR UPDATE SKIP LOCKED: processes sharing PostgreSQL take turns.
"""

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.personal import Personalization
from listserv.core.recipients import Audience
from listserv.db.models import Fanout, now
from listserv.db.outbox import Template


@dataclass(frozen=True, slots=True)
class Pending:
    """A post claimed for its next chunk of members."""

    id: int
    list_id: int
    after_member_id: int
    audience: Audience
    template: Template


async def start(session: AsyncSession, list_id: int, after_member_id: int, audience: Audience,
                template: Template) -> None:
    """Keep a post whose members after after_member_id are still to be queued."""
    await session.execute(insert(Fanout).values(
        list_id=list_id, after_member_id=after_member_id, author=audience.author,
        addressed=sorted(audience.addressed), message_id=template.message_id[:998],
        mail_from=template.mail_from, raw=template.raw,
        personalize=template.personal.mode, footer=template.personal.footer,
        web_url=template.personal.web_url, created_at=now()))


async def claim(session: AsyncSession) -> Pending | None:
    """The oldest post still being queued that no other transaction holds."""
    row = (await session.execute(
        select(Fanout.id, Fanout.list_id, Fanout.after_member_id, Fanout.author,
               Fanout.addressed, Fanout.raw, Fanout.mail_from, Fanout.message_id,
               Fanout.personalize, Fanout.footer, Fanout.web_url)
        .order_by(Fanout.id).limit(1).with_for_update(skip_locked=True))).first()
    if row is None:
        return None
    return Pending(row.id, row.list_id, row.after_member_id,
                   Audience(row.author, frozenset(row.addressed)),
                   Template(row.raw, row.mail_from, row.message_id,
                            Personalization(row.personalize, row.footer, row.web_url)))


async def advance(session: AsyncSession, fanout_id: int, after_member_id: int | None) -> None:
    """Move on past the chunk just queued; None: that was the last, the post is queued."""
    if after_member_id is None:
        await session.execute(delete(Fanout).where(Fanout.id == fanout_id))
    else:
        await session.execute(update(Fanout).where(Fanout.id == fanout_id)
                              .values(after_member_id=after_member_id))


async def count(session: AsyncSession) -> int:
    """Posts still being queued."""
    return int(await session.scalar(select(func.count()).select_from(Fanout)) or 0)
