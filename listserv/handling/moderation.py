# SPDX-License-Identifier: Apache-2.0
"""Held posts: holding them, telling the moderators, and carrying out decisions.

A decision comes by mail (a reply to ops-confirm+TOKEN@) or from the CLI, and
both go through decide(). A post is decided once: the decision is claimed
with a conditional UPDATE, so two moderators answering at the same moment
release it once. Everything runs in the caller's transaction. What each
notice says is core.moderation's business.
"""

import logging
import secrets
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core import moderation
from listserv.core.message import Post, parse_post
from listserv.core.moderation import Decision, HeldPost, Verdict
from listserv.core.notices import may_autorespond, rejection
from listserv.core.pipeline import accept
from listserv.core.policy import Action
from listserv.core.rules import Hit
from listserv.db import history
from listserv.db.models import HeldMessage, Inbound, MailingList, Member
from listserv.db.roster import staff_addresses
from listserv.handling.context import ListCache, Site
from listserv.outbound import queueing

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
SYSTEM = "listserv"  # decided_by for decisions nobody made (expiry)
EXPIRE_BATCH = 500  # held posts expired per transaction
SUMMARY_SIZE = 200  # held posts listed in one summary; the rest wait for the next


def held_post(held: HeldMessage) -> HeldPost:
    return HeldPost(held.id, held.token, held.sender, held.subject, tuple(held.reasons),
                    held.held_at, held.expires_at, len(held.raw))


async def hold(session: AsyncSession, row: Inbound, post: Post, hits: list[Hit], raw: bytes,
               mlist: MailingList, site: Site, now: datetime, cache: ListCache) -> None:
    """Keep a post for the moderators, tell them, and tell its author where the list wants."""
    held = HeldMessage(
        list_id=mlist.id, inbound_id=row.id, token=secrets.token_hex(16),
        sender=post.author or post.mail_from, subject=post.subject[:2000],
        message_id=post.message_id[:998], reasons=[hit.reason for hit in hits], raw=raw,
        held_at=now, expires_at=now + timedelta(days=mlist.max_days_to_hold))
    session.add(held)
    await session.flush()
    await _tell_moderators(session, held, mlist, site, now, cache)
    if mlist.notify_author_on_hold and await queueing.may_answer(session, post, site, now):
        held.withdraw_token = secrets.token_hex(16)
        policy = await cache.policy(session, mlist)
        message = moderation.author_notice(policy, held_post(held), held.withdraw_token,
                                           to=post.mail_from, now=now,
                                           message_id=make_msgid(domain=site.hostname))
        await queueing.answer(session, post, message, policy, mlist.id, site, now, "held")


async def _tell_moderators(session: AsyncSession, held: HeldMessage, mlist: MailingList,
                           site: Site, now: datetime, cache: ListCache) -> None:
    """One notice per held post, up to the list's hourly limit; past it, the summary tells."""
    sent = await session.scalar(select(func.count()).select_from(HeldMessage).where(
        HeldMessage.list_id == mlist.id, HeldMessage.notice == "single",
        HeldMessage.notified_at >= now - HOUR))
    if (sent or 0) >= mlist.moderator_notices_per_hour:
        log.info("%s held on %s; the moderators hear of it in the next summary",
                 held.message_id or "(no Message-ID)", mlist.address)
        return
    staff = await staff_addresses(session, mlist.id)
    held.notified_at, held.notice = now, "single"
    if not staff:
        log.warning("%s held on %s, which has no moderators or owners to tell",
                    held.message_id or "(no Message-ID)", mlist.address)
        return
    policy = await cache.policy(session, mlist)
    message = moderation.held_notice(policy, held_post(held), held.raw, to=staff, now=now,
                                     message_id=make_msgid(domain=site.hostname))
    await queueing.send(session, message, staff, policy, mlist.id, "held")


async def decide(session: AsyncSession, held: HeldMessage, mlist: MailingList,
                 decision: Decision, by: str, site: Site, now: datetime,
                 cache: ListCache) -> str:
    """Carry out a decision on a held post; return the one line that acknowledges it."""
    what = moderation.HeldPost.describe(held_post(held))
    if decision.verdict is Verdict.DEFER:
        return f"Kept held: {what}."
    claimed = await session.execute(
        update(HeldMessage).where(HeldMessage.id == held.id, HeldMessage.decided_at.is_(None))
        .values(decided_at=now, decided_by=by[:320], decision=str(decision.verdict),
                decision_reason=decision.reason or None)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(held)
        return already_decided(held)
    log.info("%s on %s: %s by %s", held.message_id or "(no Message-ID)", mlist.address,
             decision.verdict, by)
    verdict = decision.verdict
    if verdict in (Verdict.APPROVE, Verdict.APPROVE_ALWAYS):
        await _release(session, held, mlist, site, now, cache)
    if verdict is Verdict.APPROVE_ALWAYS:
        await _let_post_freely(session, held.sender, mlist, cache)
    elif verdict is Verdict.BAN:
        _ban(held.sender, mlist, cache)
    elif verdict is Verdict.REJECT:
        reason = decision.reason
        await _return_to_author(session, held, mlist, [
            f"the moderator said: {reason}" if reason else "a moderator rejected it"],
            site, now, cache)
    elif verdict is Verdict.EXPIRE and mlist.hold_expiry_action is Action.REJECT:
        await _return_to_author(session, held, mlist, [
            f"no moderator decided on it within {mlist.max_days_to_hold} days"],
            site, now, cache)
    return _acknowledgement(verdict, what, decision.reason)


def _acknowledgement(verdict: Verdict, what: str, reason: str) -> str:
    return {
        Verdict.APPROVE: f"Approved and sent to the list: {what}.",
        Verdict.APPROVE_ALWAYS: f"Approved and sent to the list: {what}; "
                                "this sender's posts now pass without moderation.",
        Verdict.REJECT: f"Rejected: {what}; the sender was told"
                        + (f" your reason: {reason}." if reason else "."),
        Verdict.DISCARD: f"Discarded: {what}.",
        Verdict.BAN: f"Discarded: {what}; this sender is now banned from the list.",
        Verdict.WITHDRAW: f"Withdrawn: {what}. It will not go to the list.",
        Verdict.EXPIRE: f"Expired: {what}.",
    }[verdict]


def already_decided(held: HeldMessage) -> str:
    when = f"{held.decided_at:%Y-%m-%d %H:%M} UTC" if held.decided_at else "earlier"
    return (f"Nothing done: {held_post(held).describe()} was already decided on {when} "
            f"by {held.decided_by}: {held.decision}.")


async def _release(session: AsyncSession, held: HeldMessage, mlist: MailingList, site: Site,
                   now: datetime, cache: ListCache) -> None:
    policy = await cache.policy(session, mlist)
    post = parse_post(held.raw, held.sender, mlist.address)
    roster = await cache.roster(session, mlist)
    outcome = accept(post, policy, list(roster.values()), now=now,
                     message_id=make_msgid(domain=site.hostname))
    await queueing.distribute(session, post, outcome.message, outcome.recipients, policy,
                              mlist.id, site, cache)
    if held.inbound_id is not None:  # so that a repeat of it counts as a duplicate
        await session.execute(update(Inbound).where(Inbound.id == held.inbound_id)
                              .values(disposition=history.ACCEPTED))


async def _let_post_freely(session: AsyncSession, address: str, mlist: MailingList,
                           cache: ListCache) -> None:
    """A moderated member is moderated no more; a nonmember joins the accept list."""
    member = await session.scalar(select(Member).where(Member.list_id == mlist.id,
                                                       Member.match_key == address))
    if member is not None:
        member.moderated = False
    elif address and address not in mlist.accept_these_nonmembers:
        mlist.accept_these_nonmembers = [*mlist.accept_these_nonmembers, address]
    cache.forget(mlist)


def _ban(address: str, mlist: MailingList, cache: ListCache) -> None:
    if address and address not in mlist.ban_list:
        mlist.ban_list = [*mlist.ban_list, address]
        cache.forget(mlist)


async def _return_to_author(session: AsyncSession, held: HeldMessage, mlist: MailingList,
                            reasons: list[str], site: Site, now: datetime,
                            cache: ListCache) -> None:
    """Tell the author their post was rejected (never answering auto-submitted mail)."""
    post = parse_post(held.raw, held.sender, mlist.address)
    if not held.sender or not may_autorespond(post):
        return
    policy = await cache.policy(session, mlist)
    notice = rejection(post, policy, reasons, message_id=make_msgid(domain=site.hostname),
                       now=now)
    await queueing.send(session, notice, [held.sender], policy, mlist.id, "rejection")
    history.log_notice(session, list_id=mlist.id, address=held.sender, kind="rejection", now=now)


async def expire(session: AsyncSession, site: Site, now: datetime, cache: ListCache) -> int:
    """Decide the held posts nobody decided in time, per list setting; report to moderators."""
    rows = (await session.scalars(
        select(HeldMessage).where(HeldMessage.decided_at.is_(None), HeldMessage.expires_at <= now)
        .order_by(HeldMessage.list_id, HeldMessage.id).limit(EXPIRE_BATCH))).all()
    for list_id in dict.fromkeys(held.list_id for held in rows):
        mlist = await session.get_one(MailingList, list_id)
        expired = [held for held in rows if held.list_id == list_id]
        for held in expired:
            await decide(session, held, mlist, Decision(Verdict.EXPIRE), SYSTEM, site, now, cache)
        staff = await staff_addresses(session, list_id)
        if staff:
            policy = await cache.policy(session, mlist)
            report = moderation.expiry_report(
                policy, [held_post(held) for held in expired], str(mlist.hold_expiry_action),
                to=staff, message_id=make_msgid(domain=site.hostname), now=now)
            await queueing.send(session, report, staff, policy, list_id, "expiry")
        log.info("%d held posts on %s expired (%s)", len(expired), mlist.address,
                 mlist.hold_expiry_action)
    return len(rows)


async def send_summaries(session: AsyncSession, site: Site, now: datetime,
                         cache: ListCache) -> int:
    """Tell the moderators of held posts past the hourly notice limit: one summary an hour."""
    waiting = HeldMessage.decided_at.is_(None) & HeldMessage.notified_at.is_(None)
    sent = 0
    for list_id in (await session.scalars(select(HeldMessage.list_id).where(waiting)
                                          .distinct())).all():
        last = await session.scalar(select(func.max(HeldMessage.notified_at)).where(
            HeldMessage.list_id == list_id, HeldMessage.notice == "summary"))
        if last is not None and last > now - HOUR:
            continue
        held = (await session.scalars(select(HeldMessage).where(
            waiting, HeldMessage.list_id == list_id).order_by(HeldMessage.id)
            .limit(SUMMARY_SIZE))).all()
        for post in held:
            post.notified_at, post.notice = now, "summary"
        staff = await staff_addresses(session, list_id)
        if staff:
            mlist = await session.get_one(MailingList, list_id)
            policy = await cache.policy(session, mlist)
            summary = moderation.held_summary(policy, [held_post(post) for post in held],
                                              to=staff, now=now,
                                              message_id=make_msgid(domain=site.hostname))
            await queueing.send(session, summary, staff, policy, list_id, "held")
            sent += 1
    return sent
