# SPDX-License-Identifier: Apache-2.0
"""Sending digests: a list's collected posts go to its digest members when the digest is
due (to each the posts collected since they left regular delivery, one digest per set of
posts), and to a member who left digest delivery as one last digest of their own.

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

from listserv.core import digests
from listserv.core.digest_entries import Entry, Topic
from listserv.core.digests import Issue
from listserv.core.personal import digest_personalization
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy
from listserv.core.recipients import chunk, digest_groups, digest_recipients, posts_between
from listserv.db import digests as db_digests
from listserv.db import outbox
from listserv.db.digests import Pending
from listserv.db.models import MailingList
from listserv.db.roster import digest_subscribers
from listserv.handling.context import Work
from listserv.offload import off_loop

log = logging.getLogger(__name__)

KIND = "digest"  # delivery_job.kind
BUILDERS = {DeliveryMode.DIGEST_MIME: digests.build_mime_digest,
            DeliveryMode.DIGEST_PLAIN: digests.build_plain_digest}


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


def upcoming_issue(mlist: MailingList, policy: ListPolicy, now: datetime) -> Issue:
    """The number the list's next digest carries if it goes out at this moment."""
    return digests.next_issue(Issue(mlist.digest_volume, mlist.digest_issue),
                              last_sent_at=mlist.digest_last_sent_at, now=now,
                              timezone=policy.digest.timezone,
                              volume_period=policy.digest_volume_period)


async def send_due(work: Work) -> None:
    """Queue every digest due at this moment and every one owed to a member.

    Each list runs in a savepoint: one that fails is logged, left as it was
    and tried again at the next call, and the others go out.
    """
    work.origin = "housekeeping"
    pending = await db_digests.pending_totals(work.session)
    owing = await db_digests.lists_owing(work.session)
    for mlist in await db_digests.lists_by_id(work.session, set(pending) | owing):
        size, oldest = pending.get(mlist.id, (0, None))
        schedule = (await work.policy(mlist)).digest
        if mlist.id not in owing and not digests.is_due(schedule, size=size, oldest=oldest,
                                                       now=work.now):
            continue
        address = mlist.address  # the row is expired if the savepoint rolls back
        try:
            async with work.session.begin_nested():
                await _run(work, mlist, force=False)
        except Exception:
            log.exception("the digest of %s failed; it is tried again later", address)


async def send_now(work: Work, mlist: MailingList, *, new_volume: bool = False) -> Sent:
    """Queue the list's pending digest whatever its schedule (``listserv digests send``);
    with new_volume the digest, or the next one if nothing waits, starts a new volume."""
    if new_volume:
        await db_digests.lock_list(work.session, mlist)
        started = digests.new_volume(Issue(mlist.digest_volume, mlist.digest_issue))
        mlist.digest_volume, mlist.digest_issue = started.volume, started.number
    return await _run(work, mlist, force=True)


async def preview(work: Work, mlist: MailingList) -> Preview:
    """What the list's next digest would hold (``listserv digests show``); sends nothing."""
    items = await db_digests.pending(work.session, mlist.id)
    members = await digest_subscribers(work.session, mlist.id)
    owed = await db_digests.count_owed(work.session, mlist.id)
    policy = await work.policy(mlist)
    size = sum(item.size for item in items)
    oldest = min((item.created_at for item in items), default=None)
    issue = upcoming_issue(mlist, policy, work.now)
    recipients = {mode: len(digest_recipients(members, mode)) for mode in BUILDERS}
    return Preview(issue, digests.digest_subject(policy, issue),
                   digests.topics([item.post for item in items]), size,
                   digests.is_due(policy.digest, size=size, oldest=oldest, now=work.now),
                   digests.next_slot(policy.digest, work.now), recipients, owed)


async def _run(work: Work, mlist: MailingList, *, force: bool) -> Sent:
    """Send what the list owes its members who left digests, then its digest if due."""
    await db_digests.lock_list(work.session, mlist)
    items = await db_digests.pending(work.session, mlist.id)
    # The digest members are read before the members owed a digest: a member who switches
    # in between is then in both (a digest twice), never in neither (posts missed).
    members = await digest_subscribers(work.session, mlist.id)
    policy = await work.policy(mlist)
    issue = upcoming_issue(mlist, policy, work.now)
    owed = await _send_owed(work, mlist, policy, items, issue)
    oldest = min((item.created_at for item in items), default=None)
    if oldest is None or not (force or digests.is_due(
            policy.digest, size=sum(item.size for item in items), oldest=oldest,
            now=work.now)):
        return Sent(None, len(items), {}, owed)
    collected = [item.created_at for item in items]
    groups = {mode: digest_groups(members, mode, collected) for mode in BUILDERS}
    if not any(groups.values()):
        log.info("%s has no digest members for its %d posts; the digest goes unsent",
                 mlist.address, len(items))
        await db_digests.mark_sent(work.session, items, 0, None)
        return Sent(None, len(items), {}, owed)
    # One digest per set of posts: members who left regular delivery lately get fewer.
    for mode, by_posts in groups.items():
        for chosen, addresses in by_posts.items():
            await _queue(work, mlist.id, policy, mode, issue, [items[n].post for n in chosen],
                         addresses)
    await db_digests.mark_sent(work.session, items, issue.number, issue.volume)
    mlist.digest_volume, mlist.digest_issue, mlist.digest_last_sent_at = \
        issue.volume, issue.number, work.now
    return Sent(issue, len(items), {mode: sum(map(len, by_posts.values()))
                                    for mode, by_posts in groups.items()}, owed)


async def _send_owed(work: Work, mlist: MailingList, policy: ListPolicy,
                     items: Sequence[Pending], issue: Issue) -> int:
    """Send each member who left digest delivery the posts collected while they took
    digests (marked nowhere: the others still get them in the list's digest)."""
    sent = 0
    collected = [item.created_at for item in items]
    for member in await db_digests.owed_members(work.session, mlist.id):
        until, mode = member.digest_owed_at, member.digest_owed_mode
        member.digest_owed_at = member.digest_owed_mode = None
        posts = [items[n].post for n in posts_between(collected, member.digest_since, until)]
        if posts and mode is not None and mode in BUILDERS \
                and member.delivery_mode is DeliveryMode.REGULAR \
                and member.delivery_status is DeliveryStatus.ENABLED:
            await _queue(work, mlist.id, policy, mode, issue, posts, [member.address])
            sent += 1
    return sent


async def _queue(work: Work, list_id: int, policy: ListPolicy, mode: DeliveryMode,
                 issue: Issue, posts: Sequence[Entry | bytes], recipients: Sequence[str]) -> None:
    message_id = work.message_id()
    raw = await off_loop(sum(map(_size, posts)), BUILDERS[mode], policy, issue, posts,
                         message_id=message_id, now=work.now)
    await outbox.enqueue(work.session, list_id=list_id, kind=KIND, raw=raw,
                         message_id=message_id, mail_from=policy.sub_address("-bounces"),
                         personal=digest_personalization(policy), transactions=chunk(
                             recipients, work.settings.max_recipients_per_transaction))
    log.info("%s: %s %s of %s: %d posts, %d octets, to %d members", message_id, mode, issue,
             policy.address, len(posts), len(raw), len(recipients))


def _size(post: Entry | bytes) -> int:
    return len(post.attached) if isinstance(post, Entry) else len(post)
