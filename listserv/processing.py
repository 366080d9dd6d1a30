# SPDX-License-Identifier: Apache-2.0
"""Turn one stored inbound message into its outcome, in the caller's transaction.

The recipient address is classified once; a post runs the pipeline, mail to
-owner is forwarded to the owners, and mail for flows this version does not
run yet (commands, confirmations, bounces) is kept as 'deferred' for them.
This module decides nothing itself: core.pipeline does.
"""

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy.ext.asyncio import AsyncSession

from listserv.archive import archive_post
from listserv.core.addresses import Destination, split_recipient, sub_address
from listserv.core.decoration import render
from listserv.core.message import Post, header_texts, parse_post
from listserv.core.notices import may_autorespond, rejection
from listserv.core.pipeline import Distribute, Hold, Outcome, Reject, process, with_hits_header
from listserv.core.policy import Action, ListPolicy, SenderStatus, Subscriber
from listserv.core.recipients import chunk
from listserv.core.rules import Facts, Hit
from listserv.db import history, outbox
from listserv.db.lists import find_list
from listserv.db.models import DigestItem, HeldMessage, Inbound, InboundState, MailingList
from listserv.db.roster import load_subscribers, owner_addresses, roster_version
from listserv.db.snapshots import load_policy

log = logging.getLogger(__name__)

HOLD_DAYS = 7
DAY = timedelta(days=1)


class Unprocessable(Exception):
    """The message cannot be processed as things stand; it is kept as failed."""


# list id -> (roster version, members by match key)
Rosters = dict[int, tuple[tuple[int, datetime | None], dict[str, Subscriber]]]


@dataclass
class ListCache:
    """Lists, policies and rosters read once per batch of messages (one transaction)."""

    lease: outbox.Lease | None = None  # jobs queued are leased to the worker that queues them
    leased: list[outbox.Claimed] = field(default_factory=list)
    lists: dict[str, MailingList | None] = field(default_factory=dict)
    queued: int = 0  # recipients queued in this transaction
    policies: dict[int, ListPolicy] = field(default_factory=dict)
    rosters: "Rosters" = field(default_factory=dict)  # shared between batches
    checked: set[int] = field(default_factory=set)  # rosters known current in this batch

    async def find_list(self, session: AsyncSession, key: str) -> MailingList | None:
        if key not in self.lists:
            self.lists[key] = await find_list(session, key)
        return self.lists[key]

    async def policy(self, session: AsyncSession, mlist: MailingList) -> ListPolicy:
        if mlist.id not in self.policies:
            self.policies[mlist.id] = await load_policy(session, mlist)
        return self.policies[mlist.id]

    async def roster(self, session: AsyncSession, mlist: MailingList) -> dict[str, Subscriber]:
        """The list's members by match key, re-read only when the roster changed."""
        if mlist.id not in self.checked:
            version = await roster_version(session, mlist.id)
            known = self.rosters.get(mlist.id)
            if known is None or known[0] != version:
                members = await load_subscribers(session, mlist.id)
                self.rosters[mlist.id] = (version, {s.key: s for s in members})
            self.checked.add(mlist.id)
        return self.rosters[mlist.id][1]


@dataclass(frozen=True, slots=True)
class Site:
    """The site settings processing needs."""

    hostname: str
    max_recipients_per_transaction: int
    autoresponses_per_day: int


async def handle(session: AsyncSession, row: Inbound, site: Site, now: datetime,
                 cache: ListCache, worker: str) -> None:
    """Process one inbound row; the caller commits (or marks it failed on an exception)."""
    recipient = split_recipient(row.recipient)
    mlist = await cache.find_list(session, recipient.list_key) if recipient else None
    row.claimed_at, row.claimed_by, row.attempts = now, worker, row.attempts + 1
    if recipient is None or mlist is None:
        raise Unprocessable(f"no list for {row.recipient} any more")
    row.list_id = mlist.id
    if recipient.destination is Destination.POST:
        await _post(session, row, mlist, site, now, cache)
    elif recipient.destination is Destination.OWNER:
        await _to_owners(session, row, mlist)
    else:
        row.state, row.disposition = InboundState.DEFERRED, "deferred"
        log.info("%s to %s kept for the %s flow", row.message_id or "(no Message-ID)",
                 row.recipient, recipient.destination)
        return
    row.state, row.processed_at = InboundState.DONE, now


async def _post(session: AsyncSession, row: Inbound, mlist: MailingList, site: Site,
                now: datetime, cache: ListCache) -> None:
    policy = await cache.policy(session, mlist)
    post = parse_post(row.raw, row.mail_from, row.recipient)
    roster = await cache.roster(session, mlist)
    member = roster.get(post.author) if post.author else None
    window = timedelta(hours=mlist.duplicate_window_hours)
    duplicate = bool(mlist.duplicate_window_hours) and await history.seen_message_id(
        session, list_id=mlist.id, message_id=row.message_id, since=now - window,
        exclude_id=row.id)
    facts = Facts(member.status() if member else SenderStatus(post.author), duplicate)
    outcome = process(post, policy, facts, list(roster.values()),
                      message_id=make_msgid(domain=site.hostname), now=now)
    row.rule_hits = [{"rule": h.rule, "reason": h.reason, "action": str(h.action)}
                     for h in outcome.hits]
    row.disposition = _disposition(outcome)
    log.info("%s from %s to %s: %s%s", post.message_id or "(no Message-ID)", post.author
             or "(no author)", policy.address, row.disposition,
             f" ({outcome.hits[0].rule}: {outcome.hits[0].reason})" if outcome.hits else "")
    match outcome:
        case Distribute():
            await _distribute(session, outcome, policy, mlist, post, site, cache)
        case Hold():
            _hold(session, row, post, outcome.hits, mlist, now)
        case Reject():
            await _reject(session, post, outcome.hits, policy, mlist, site, now)


def _disposition(outcome: Outcome) -> str:
    return {Distribute: history.ACCEPTED, Hold: "held", Reject: "rejected"}.get(
        type(outcome), "discarded")


async def _distribute(session: AsyncSession, outcome: Distribute, policy: ListPolicy,
                      mlist: MailingList, post: Post, site: Site, cache: ListCache) -> None:
    raw = render(outcome.message)
    if policy.archive:
        await archive_post(session, mlist.id, raw)
    session.add(DigestItem(list_id=mlist.id, raw=raw))
    message_id = str(outcome.message.get("Message-ID", post.message_id))
    cache.queued += len(outcome.recipients)
    cache.leased += await outbox.enqueue(
        session, list_id=mlist.id, kind="post", raw=raw, mail_from=policy.sub_address("-bounces"),
        message_id=message_id, lease=cache.lease,
        transactions=chunk(outcome.recipients, site.max_recipients_per_transaction))


def _hold(session: AsyncSession, row: Inbound, post: Post, hits: list[Hit],
          mlist: MailingList, now: datetime) -> None:
    session.add(HeldMessage(
        list_id=mlist.id, inbound_id=row.id, token=secrets.token_hex(16),
        sender=post.author or post.mail_from, subject=post.subject[:2000],
        message_id=post.message_id[:998], reasons=[hit.reason for hit in hits],
        raw=with_hits_header(row.raw, hits), held_at=now,
        expires_at=now + timedelta(days=HOLD_DAYS)))


async def _reject(session: AsyncSession, post: Post, hits: list[Hit], policy: ListPolicy,
                  mlist: MailingList, site: Site, now: datetime) -> None:
    if not may_autorespond(post):
        return
    address = post.mail_from.lower()
    if await history.notices_since(session, address, now - DAY) >= site.autoresponses_per_day:
        log.info("%s: no rejection notice to %s, daily limit reached", post.message_id, address)
        return
    notice = rejection(post, policy, [hit.reason for hit in hits if hit.action is Action.REJECT],
                       message_id=make_msgid(domain=site.hostname), now=now)
    await outbox.enqueue(session, list_id=mlist.id, kind="notice", raw=render(notice),
                         mail_from=policy.sub_address("-bounces"),
                         transactions=[[post.mail_from]], message_id=str(notice["Message-ID"]))
    history.log_notice(session, list_id=mlist.id, address=address, kind="rejection", now=now)


async def _to_owners(session: AsyncSession, row: Inbound, mlist: MailingList) -> None:
    """Pass mail for ops-owner@ on to the owners, unchanged but for a loop marker."""
    owner_address = sub_address(mlist.address, "-owner")
    owners = await owner_addresses(session, mlist.id)
    if not owners:
        raise Unprocessable(f"{mlist.address} has no owners to forward to")
    message = parse_post(row.raw).message
    if owner_address in (text.lower() for text in header_texts(message, "X-BeenThere")):
        row.disposition = "discarded"
        log.warning("%s to %s not forwarded: it has been here before", row.message_id,
                    row.recipient)
        return
    raw = f"X-BeenThere: {owner_address}\r\n".encode() + row.raw
    await outbox.enqueue(session, list_id=mlist.id, kind="owner", raw=raw,
                         transactions=[owners], mail_from=sub_address(mlist.address, "-bounces"),
                         message_id=row.message_id)
    row.disposition = "forwarded"
