# SPDX-License-Identifier: Apache-2.0
"""Held posts: holding them, telling the moderators, and carrying out decisions.

A decision comes by mail (a reply to ops-confirm+TOKEN@), from the web pages,
the CLI or the admin API, and all go through decide(). A post is decided once:
the decision is claimed with a conditional UPDATE, so two moderators
answering at the same moment release it once. Everything runs in the
caller's transaction. What each notice says is core.moderation's business.
"""

import logging
import secrets
from datetime import datetime, timedelta

from listserv.core import moderation
from listserv.core.authorship import decision_refusal
from listserv.core.explanations import explanations
from listserv.core.message import Post, parse_post
from listserv.core.moderation import Decision, HeldPost, Verdict
from listserv.core.notices import rejection
from listserv.core.pipeline import approve
from listserv.core.policy import Action
from listserv.core.rules import Hit
from listserv.db import held as db_held
from listserv.db import history
from listserv.db.lists import get_list_by_id
from listserv.db.members import find_member
from listserv.db.models import HeldMessage, Inbound, MailingList
from listserv.db.roster import staff_addresses
from listserv.errors import Conflict
from listserv.handling import notices
from listserv.handling.context import Work
from listserv.handling.distribution import distribute
from listserv.handling.plaintext import html_to_text
from listserv.offload import off_loop

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
SYSTEM = "listserv"  # decided_by for decisions nobody made (expiry)
EXPIRE_BATCH = 500  # held posts expired per transaction
SUMMARY_SIZE = 200  # held posts listed in one summary; the rest wait for the next


def held_post(held: HeldMessage) -> HeldPost:
    return HeldPost(held.id, held.token, held.sender, held.subject, tuple(held.reasons),
                    held.held_at, held.expires_at, len(held.raw))


async def hold(work: Work, mlist: MailingList, row: Inbound, post: Post, hits: list[Hit],
               raw: bytes) -> None:
    """Keep a post for the moderators, tell them, and tell its author where the list wants."""
    policy = await work.policy(mlist)
    held = await db_held.add_held(
        work.session, list_id=mlist.id, inbound_id=row.id, sender=post.author or post.mail_from,
        subject=post.subject, message_id=post.message_id, reasons=[hit.reason for hit in hits],
        raw=raw, now=work.now, expires_at=work.now + timedelta(days=policy.holds.max_days))
    await _tell_moderators(work, mlist, held)
    if policy.holds.notify_author and await notices.may_answer(work, post):
        held.withdraw_token = secrets.token_hex(16)
        why = explanations(hits, Action.HOLD, post, policy)
        message = moderation.author_notice(policy, held_post(held), held.withdraw_token,
                                           why=why, to=post.mail_from, now=work.now,
                                           message_id=work.message_id())
        await notices.answer(work, mlist, post, message, "held")


async def _tell_moderators(work: Work, mlist: MailingList, held: HeldMessage) -> None:
    """One notice per held post, up to the list's hourly limit; past it, the summary tells."""
    policy = await work.policy(mlist)
    if await db_held.notices_since(work.session, mlist.id, work.now - HOUR) \
            >= policy.holds.notices_per_hour:
        log.info("%s held on %s; the moderators hear of it in the next summary",
                 held.message_id or "(no Message-ID)", mlist.address)
        return
    staff = await staff_addresses(work.session, mlist.id)
    held.notified_at, held.notice = work.now, db_held.SINGLE
    if not staff:
        log.warning("%s held on %s, which has no moderators or owners to tell",
                    held.message_id or "(no Message-ID)", mlist.address)
        return
    message = moderation.held_notice(policy, held_post(held), held.raw, to=staff, now=work.now,
                                     size_limit=work.settings.max_message_size,
                                     message_id=work.message_id())
    await notices.send(work, mlist, message, staff, "held")


async def decide_once(work: Work, held: HeldMessage, decision: Decision, by: str) -> str:
    """Decide a held post named by its id (the CLI, the API); Conflict if it was decided
    already, earlier or by a moderator answering at the same moment."""
    mlist = await get_list_by_id(work.session, held.list_id)
    return await decide(work, mlist, held, decision, by, refuse_decided=True)


async def decide(work: Work, mlist: MailingList, held: HeldMessage, decision: Decision,
                 by: str, *, refuse_decided: bool = False) -> str:
    """Carry out a decision on a held post; return the one line that acknowledges it.

    A post decided already is answered with what was decided, or with Conflict
    when refuse_decided.
    """
    what = moderation.HeldPost.describe(held_post(held))
    if decision.verdict is Verdict.DEFER:
        return f"Kept held: {what}."
    if not await db_held.claim_decision(work.session, held.id, now=work.now, by=by,
                                        decision=str(decision.verdict), reason=decision.reason):
        await work.session.refresh(held)
        if refuse_decided:
            raise Conflict(already_decided(held))
        return already_decided(held)
    log.info("%s on %s: %s by %s", held.message_id or "(no Message-ID)", mlist.address,
             decision.verdict, by)
    policy = await work.policy(mlist)
    verdict = decision.verdict
    if verdict in (Verdict.APPROVE, Verdict.APPROVE_ALWAYS):
        await _release(work, mlist, held)
    if verdict is Verdict.APPROVE_ALWAYS:
        await _let_post_freely(work, mlist, held.sender)
    elif verdict is Verdict.BAN:
        _ban(mlist, held.sender)
    elif verdict is Verdict.REJECT:
        reason = decision.reason
        await _return_to_author(work, mlist, held, [
            f"The moderator said: {reason}" if reason else "A moderator rejected it."])
    elif verdict is Verdict.EXPIRE and policy.holds.expiry_action is Action.REJECT:
        await _return_to_author(work, mlist, held, [
            f"No moderator decided on it within {policy.holds.max_days} days."])
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


def closed(held: HeldMessage, now: datetime) -> str | None:
    """Why a moderator can no longer decide on a held post (decided, expired); None if
    they can. Replies by mail and clicks on the web both ask this first."""
    if held.decided_at is not None:
        return already_decided(held)
    if held.expires_at <= now:
        return f"Nothing was done: {held_post(held).describe()} has expired."
    return None


async def unproven(work: Work, mlist: MailingList, post: Post, instead: str) -> str | None:
    """Why a moderator's reply may not decide (its From is not shown to be its sender's),
    with what to do instead; None when it may."""
    policy = await work.policy(mlist)
    why = decision_refusal(post, work.settings.trusted_authserv_id,
                           required=policy.holds.replies_need_auth)
    if why is None:
        return None
    log.warning("%s: reply of %s (envelope <%s>) to %s not authenticated; nothing decided",
                work.origin, post.author, post.mail_from, post.recipient)
    on_the_web = f", or on the web at {policy.web_url}" if policy.web_url else ""
    return (f"Nothing was done: {why} Reply from your usual mail account, or {instead}"
            f"{on_the_web}.")


def already_decided(held: HeldMessage) -> str:
    when = f"{held.decided_at:%Y-%m-%d %H:%M} UTC" if held.decided_at else "earlier"
    return (f"Nothing done: {held_post(held).describe()} was already decided on {when} "
            f"by {held.decided_by}: {held.decision}.")


async def _release(work: Work, mlist: MailingList, held: HeldMessage) -> None:
    size = len(held.raw)
    post = await off_loop(size, parse_post, held.raw, held.sender, mlist.address)
    outcome = await off_loop(size, approve, post, await work.policy(mlist), now=work.now,
                             message_id=work.message_id(), html_to_text=html_to_text)
    await distribute(work, mlist, post, outcome.message)
    if held.inbound_id is not None:  # so that a repeat of it counts as a duplicate
        await history.mark_accepted(work.session, held.inbound_id)


async def _let_post_freely(work: Work, mlist: MailingList, address: str) -> None:
    """A moderated member is moderated no more; a nonmember joins the accept list."""
    member = await find_member(work.session, mlist, address)
    if member is not None:
        member.moderated = False
    elif address and address not in mlist.accept_these_nonmembers:
        mlist.accept_these_nonmembers = [*mlist.accept_these_nonmembers, address]


def _ban(mlist: MailingList, address: str) -> None:
    if address and address not in mlist.ban_list:
        mlist.ban_list = [*mlist.ban_list, address]


async def _return_to_author(work: Work, mlist: MailingList, held: HeldMessage,
                            reasons: list[str]) -> None:
    """Return the post to the envelope sender it came with, as every automatic answer goes
    (RFC 3834: to the Return-Path, within the daily limit, never to automatic mail)."""
    post = parse_post(held.raw, await db_held.envelope_sender(work.session, held),
                      mlist.address)
    notice = rejection(post, await work.policy(mlist), reasons,
                       size_limit=work.settings.max_message_size,
                       message_id=work.message_id(), now=work.now)
    await notices.answer(work, mlist, post, notice, "rejection")


async def expire(work: Work) -> int:
    """Decide the held posts nobody decided in time, per list setting; report to moderators."""
    rows = await db_held.expired(work.session, work.now, EXPIRE_BATCH)
    for list_id in dict.fromkeys(held.list_id for held in rows):
        mlist = await get_list_by_id(work.session, list_id)
        policy = await work.policy(mlist)
        expired = [held for held in rows if held.list_id == list_id]
        for held in expired:
            await decide(work, mlist, held, Decision(Verdict.EXPIRE), SYSTEM)
        staff = await staff_addresses(work.session, list_id)
        if staff:
            report = moderation.expiry_report(
                policy, [held_post(held) for held in expired], str(policy.holds.expiry_action),
                to=staff, message_id=work.message_id(), now=work.now)
            await notices.send(work, mlist, report, staff, "expiry")
        log.info("%d held posts on %s expired (%s)", len(expired), mlist.address,
                 policy.holds.expiry_action)
    return len(rows)


async def send_summaries(work: Work) -> int:
    """Tell the moderators of held posts past the hourly notice limit: one summary an hour."""
    sent = 0
    for list_id in await db_held.lists_with_untold(work.session):
        last = await db_held.last_summary_at(work.session, list_id)
        if last is not None and last > work.now - HOUR:
            continue
        held = await db_held.untold(work.session, list_id, SUMMARY_SIZE)
        for post in held:
            post.notified_at, post.notice = work.now, db_held.SUMMARY
        staff = await staff_addresses(work.session, list_id)
        if staff:
            mlist = await get_list_by_id(work.session, list_id)
            summary = moderation.held_summary(await work.policy(mlist),
                                              [held_post(post) for post in held], to=staff,
                                              now=work.now, message_id=work.message_id())
            await notices.send(work, mlist, summary, staff, "held")
            sent += 1
    return sent
