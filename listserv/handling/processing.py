# SPDX-License-Identifier: Apache-2.0
"""Turn one stored inbound message into its outcome, in the caller's transaction.

The recipient address is classified once: a post runs the pipeline (after
the flood check and the moderator password), mail to -owner is forwarded to
the owners, replies to -confirm+TOKEN go to confirmations, commands to
-request/-join/-leave to requests, and mail to -bounces to bounces. This
module decides nothing itself: core.pipeline does.
"""

import logging
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core import approval
from listserv.core.addresses import Destination, split_recipient, sub_address
from listserv.core.message import Post, header_texts, parse_post
from listserv.core.moderation import flood_notice
from listserv.core.notices import rejection
from listserv.core.pipeline import Distribute, Hold, Outcome, Reject, process, with_hits_header
from listserv.core.policy import Action, ListPolicy, Role, SenderStatus
from listserv.core.rules import Facts, Hit
from listserv.db import history, outbox
from listserv.db.models import Inbound, InboundState, MailingList
from listserv.db.roster import staff_addresses
from listserv.handling import bounces, commands, confirmations, moderation
from listserv.handling.context import ListCache, Site
from listserv.outbound import queueing

log = logging.getLogger(__name__)


class Unprocessable(Exception):
    """The message cannot be processed as things stand; it is kept as failed."""


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
    elif recipient.destination is Destination.CONFIRM:
        row.disposition = await confirmations.handle_reply(
            session, row, recipient.extension, mlist, site, now, cache)
    elif recipient.destination in (Destination.REQUEST, Destination.JOIN, Destination.LEAVE):
        row.disposition = await commands.handle_request(
            session, row, recipient.destination, mlist, site, now, cache)
    else:  # Destination.BOUNCES
        row.disposition = await bounces.handle_bounce(
            session, row, recipient.extension, mlist, site, now, cache)
    row.state, row.processed_at = InboundState.DONE, now


async def _post(session: AsyncSession, row: Inbound, mlist: MailingList, site: Site,
                now: datetime, cache: ListCache) -> None:
    await _check_flood(session, mlist, site, now, cache)
    policy = await cache.policy(session, mlist)
    post = parse_post(row.raw, row.mail_from, row.recipient)
    approved = approval.approved_post(row.raw, post.message, mlist.moderator_password_hash)
    if approved is not None:  # without the password: it reaches neither members nor archive
        post = parse_post(approved, row.mail_from, row.recipient)
    roster = await cache.roster(session, mlist)
    member = roster.get(post.author) if post.author else None
    window = timedelta(hours=mlist.duplicate_window_hours)
    duplicate = bool(mlist.duplicate_window_hours) and await history.seen_message_id(
        session, list_id=mlist.id, message_id=row.message_id, since=now - window,
        exclude_id=row.id)
    facts = Facts(member.status() if member else SenderStatus(post.author), duplicate,
                  approved is not None)
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
            await queueing.distribute(session, post, outcome.message, outcome.recipients,
                                      policy, mlist.id, site, cache)
            cache.accepted[mlist.id] = cache.accepted.get(mlist.id, 0) + 1
        case Hold():
            await moderation.hold(session, row, post, outcome.hits,
                                  with_hits_header(post.raw, outcome.hits), mlist, site, now,
                                  cache)
        case Reject():
            await _reject(session, post, outcome.hits, policy, mlist, site, now)


async def _check_flood(session: AsyncSession, mlist: MailingList, site: Site, now: datetime,
                       cache: ListCache) -> None:
    """Past the list's flood limit of accepted posts, switch on emergency moderation."""
    if not mlist.flood_max_posts or mlist.emergency:
        return
    if mlist.id not in cache.accepted:
        cache.accepted[mlist.id] = int(await session.scalar(
            select(func.count()).select_from(Inbound).where(
                Inbound.list_id == mlist.id, Inbound.disposition == history.ACCEPTED,
                Inbound.received_at >= now - timedelta(minutes=mlist.flood_window_minutes)))
            or 0)
    if cache.accepted[mlist.id] < mlist.flood_max_posts:
        return
    mlist.emergency = True
    cache.forget(mlist)
    log.warning("%s: %d posts accepted within %d minutes; emergency moderation is on",
                mlist.address, cache.accepted[mlist.id], mlist.flood_window_minutes)
    staff = await staff_addresses(session, mlist.id)
    if staff:
        policy = await cache.policy(session, mlist)
        message = flood_notice(policy, cache.accepted[mlist.id], mlist.flood_window_minutes,
                               to=staff, message_id=make_msgid(domain=site.hostname), now=now)
        await queueing.send(session, message, staff, policy, mlist.id, "flood")


def _disposition(outcome: Outcome) -> str:
    return {Distribute: history.ACCEPTED, Hold: "held", Reject: "rejected"}.get(
        type(outcome), "discarded")


async def _reject(session: AsyncSession, post: Post, hits: list[Hit], policy: ListPolicy,
                  mlist: MailingList, site: Site, now: datetime) -> None:
    notice = rejection(post, policy, [hit.reason for hit in hits if hit.action is Action.REJECT],
                       message_id=make_msgid(domain=site.hostname), now=now)
    await queueing.answer(session, post, notice, policy, mlist.id, site, now, "rejection")


async def _to_owners(session: AsyncSession, row: Inbound, mlist: MailingList) -> None:
    """Pass mail for ops-owner@ on to the owners, unchanged but for a loop marker."""
    owner_address = sub_address(mlist.address, "-owner")
    owners = await staff_addresses(session, mlist.id, (Role.OWNER,))
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
