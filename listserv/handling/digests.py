# SPDX-License-Identifier: Apache-2.0
"""Sending digests: a list's collected posts go to its digest members when the digest is
due, and to a member who left digest delivery as one last digest of their own.

Everything runs in the caller's transaction: the digests are queued as
delivery jobs, the posts marked with their issue and the list's numbering
advanced together, so an issue goes out once and whole, or not at all. A run
holds the list's row (FOR UPDATE), so processes sharing a database never send
an issue twice. When a digest is due and what it holds is core.digests'
business; this module only collects, queues and records.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core import digests
from listserv.core.digests import Issue, Schedule, Topic
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy, Personalize
from listserv.core.recipients import chunk, digest_recipients
from listserv.db import outbox
from listserv.db.models import DigestItem, MailingList, Member
from listserv.handling.context import ListCache, Site

log = logging.getLogger(__name__)

KIND = "digest"  # delivery_job.kind
BUILDERS = {DeliveryMode.DIGEST_MIME: digests.build_mime_digest,
            DeliveryMode.DIGEST_PLAIN: digests.build_plain_digest}


@dataclass(frozen=True, slots=True)
class Pending:
    """A post waiting for the list's next digest."""

    item_id: int
    raw: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Sent:
    """What one run queued for a list."""

    issue: Issue | None  # None when no issue went out (nothing due, or no digest members)
    posts: int
    recipients: dict[DeliveryMode, int]
    owed: int  # members who left digest delivery and were sent the posts collected until then


@dataclass(frozen=True, slots=True)
class Preview:
    """What the list's next digest would hold, and when it goes out."""

    issue: Issue
    subject: str
    topics: list[Topic]
    size: int  # octets collected
    due: bool
    next_at: datetime | None  # the next scheduled moment; None for size-only lists
    recipients: dict[DeliveryMode, int]
    owed: int


def schedule_of(mlist: MailingList) -> Schedule:
    return Schedule(mlist.digest_size_kb, mlist.digest_period, mlist.digest_hour,
                    mlist.digest_weekday, mlist.timezone)


def upcoming_issue(mlist: MailingList, now: datetime) -> Issue:
    """The number the list's next digest carries if it goes out at this moment."""
    return digests.next_issue(Issue(mlist.digest_volume, mlist.digest_issue),
                              last_sent_at=mlist.digest_last_sent_at, now=now,
                              timezone=mlist.timezone, volume_period=mlist.digest_volume_period)


async def send_due(session: AsyncSession, site: Site, now: datetime, cache: ListCache) -> None:
    """Queue every digest due at this moment and every one owed to a member.

    Each list runs in a savepoint: one that fails is logged, left as it was
    and tried again at the next call, and the others go out.
    """
    pending = await _pending_totals(session)
    owing = set(await session.scalars(
        select(Member.list_id).where(Member.digest_owed_at.is_not(None)).distinct()))
    lists = (await session.scalars(select(MailingList).where(
        MailingList.id.in_(set(pending) | owing)).order_by(MailingList.id))).all()
    for mlist in lists:
        size, oldest = pending.get(mlist.id, (0, None))
        if mlist.id not in owing and not digests.is_due(schedule_of(mlist), size=size,
                                                       oldest=oldest, now=now):
            continue
        address = mlist.address  # the row is expired if the savepoint rolls back
        try:
            async with session.begin_nested():
                await _run(session, mlist, site, now, cache, force=False)
        except Exception:
            log.exception("the digest of %s failed; it is tried again later", address)


async def send_now(session: AsyncSession, mlist: MailingList, site: Site, now: datetime,
                   cache: ListCache, *, new_volume: bool = False) -> Sent:
    """Queue the list's pending digest whatever its schedule (``listserv digests send``);
    with new_volume the digest, or the next one if nothing waits, starts a new volume."""
    if new_volume:
        await _lock(session, mlist)
        started = digests.new_volume(Issue(mlist.digest_volume, mlist.digest_issue))
        mlist.digest_volume, mlist.digest_issue = started.volume, started.number
    return await _run(session, mlist, site, now, cache, force=True)


async def preview(session: AsyncSession, mlist: MailingList, now: datetime,
                  cache: ListCache) -> Preview:
    """What the list's next digest would hold (``listserv digests show``); sends nothing."""
    items = await _pending(session, mlist.id)
    roster = await cache.roster(session, mlist)
    owed = await session.scalar(select(func.count()).select_from(Member).where(
        Member.list_id == mlist.id, Member.digest_owed_at.is_not(None)))
    schedule, size = schedule_of(mlist), sum(len(item.raw) for item in items)
    oldest = min((item.created_at for item in items), default=None)
    issue = upcoming_issue(mlist, now)
    subject = digests.digest_subject(await cache.policy(session, mlist), issue)
    recipients = {mode: len(digest_recipients(roster.values(), mode)) for mode in BUILDERS}
    return Preview(issue, subject, digests.topics([item.raw for item in items]), size,
                   digests.is_due(schedule, size=size, oldest=oldest, now=now),
                   digests.next_slot(schedule, now), recipients, int(owed or 0))


async def _run(session: AsyncSession, mlist: MailingList, site: Site, now: datetime,
               cache: ListCache, *, force: bool) -> Sent:
    """Send what the list owes its members who left digests, then its digest if due."""
    await _lock(session, mlist)
    items = await _pending(session, mlist.id)
    # The roster is read before the members owed a digest: a member who switches in
    # between is then in both (a digest twice), never in neither (posts missed).
    roster = await cache.roster(session, mlist)
    policy = await cache.policy(session, mlist)
    issue = upcoming_issue(mlist, now)
    owed = await _send_owed(session, mlist.id, policy, items, issue, site, now)
    oldest = min((item.created_at for item in items), default=None)
    if oldest is None or not (force or digests.is_due(
            schedule_of(mlist), size=sum(len(item.raw) for item in items), oldest=oldest,
            now=now)):
        return Sent(None, len(items), {}, owed)
    recipients = {mode: digest_recipients(roster.values(), mode) for mode in BUILDERS}
    if not any(recipients.values()):
        log.info("%s has no digest members; %d posts leave its digest unsent", mlist.address,
                 len(items))
        await _mark(session, items, None)
        return Sent(None, len(items), {}, owed)
    posts = [item.raw for item in items]
    for mode, addresses in recipients.items():
        if addresses:
            await _queue(session, mlist.id, policy, mode, issue, posts, addresses, site, now)
    await _mark(session, items, issue)
    mlist.digest_volume, mlist.digest_issue, mlist.digest_last_sent_at = \
        issue.volume, issue.number, now
    return Sent(issue, len(items), {mode: len(found) for mode, found in recipients.items()},
                owed)


async def _send_owed(session: AsyncSession, list_id: int, policy: ListPolicy,
                     items: Sequence[Pending], issue: Issue, site: Site, now: datetime) -> int:
    """Send each member who left digest delivery the posts collected until they left
    (marked nowhere: the others still get them in the list's digest)."""
    members = (await session.scalars(select(Member).where(
        Member.list_id == list_id, Member.digest_owed_at.is_not(None)))).all()
    sent = 0
    for member in members:
        until, mode = member.digest_owed_at, member.digest_owed_mode
        member.digest_owed_at = member.digest_owed_mode = None
        posts = [item.raw for item in items if until is not None and item.created_at <= until]
        if posts and mode is not None and mode in BUILDERS \
                and member.delivery_mode is DeliveryMode.REGULAR \
                and member.delivery_status is DeliveryStatus.ENABLED:
            await _queue(session, list_id, policy, mode, issue, posts, [member.address], site,
                         now)
            sent += 1
    return sent


async def _queue(session: AsyncSession, list_id: int, policy: ListPolicy, mode: DeliveryMode,
                 issue: Issue, posts: Sequence[bytes], recipients: Sequence[str], site: Site,
                 now: datetime) -> None:
    message_id = make_msgid(domain=site.hostname)
    raw = BUILDERS[mode](policy, issue, posts, message_id=message_id, now=now)
    # A list that personalises gets digests with VERP too; a personal footer would mean
    # re-writing the whole digest for each member.
    personalize = Personalize.NONE if policy.personalize is Personalize.NONE \
        else Personalize.VERP
    await outbox.enqueue(session, list_id=list_id, kind=KIND, raw=raw, message_id=message_id,
                         mail_from=policy.sub_address("-bounces"), personalize=personalize,
                         transactions=chunk(recipients, site.max_recipients_per_transaction))
    log.info("%s: %s %s of %s: %d posts, %d octets, to %d members", message_id, mode, issue,
             policy.address, len(posts), len(raw), len(recipients))


async def _lock(session: AsyncSession, mlist: MailingList) -> None:
    """Hold the list's row for this transaction, its digest numbering read afresh."""
    await session.execute(select(MailingList).where(MailingList.id == mlist.id)
                          .with_for_update().execution_options(populate_existing=True))


async def _pending(session: AsyncSession, list_id: int) -> list[Pending]:
    rows = await session.execute(
        select(DigestItem.id, DigestItem.raw, DigestItem.created_at)
        .where(DigestItem.list_id == list_id, DigestItem.digest_issue.is_(None))
        .order_by(DigestItem.id))
    return [Pending(*row) for row in rows]


async def _pending_totals(session: AsyncSession) -> dict[int, tuple[int, datetime]]:
    """Octets collected and when the oldest post arrived, for each list with posts waiting."""
    rows = await session.execute(
        select(DigestItem.list_id, func.sum(func.length(DigestItem.raw)),
               func.min(DigestItem.created_at))
        .where(DigestItem.list_id.in_(select(MailingList.id)),
               DigestItem.digest_issue.is_(None))
        .group_by(DigestItem.list_id))
    return {list_id: (int(size or 0), oldest) for list_id, size, oldest in rows}


async def _mark(session: AsyncSession, items: Sequence[Pending], issue: Issue | None) -> None:
    """Record the issue the posts went out in (issue 0: none, the list had no digest members)."""
    await session.execute(
        update(DigestItem).where(DigestItem.id.in_([item.item_id for item in items]))
        .values(digest_issue=issue.number if issue else 0,
                digest_volume=issue.volume if issue else None))
