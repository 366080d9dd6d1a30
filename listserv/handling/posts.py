# SPDX-License-Identifier: Apache-2.0
"""Mail to the list address: check the flood limit and the moderator password (approvals), let
core.pipeline decide, and carry out its decision (distribute, hold, reject, discard).

This module decides nothing about a post itself: the rules and moderation
are the core's.
"""

import logging
from datetime import timedelta

from listserv.core.explanations import explanations
from listserv.core.message import Post, parse_post
from listserv.core.moderation import flood_notice
from listserv.core.notices import filtered_out, rejection
from listserv.core.pipeline import (
    Distribute,
    Forward,
    Hold,
    Outcome,
    Reject,
    process,
    with_hits_header,
)
from listserv.core.policy import Action, Role, SenderStatus
from listserv.core.rules import Facts, Hit
from listserv.db import history
from listserv.db.models import Inbound, MailingList
from listserv.db.roster import staff_addresses
from listserv.handling import approvals, moderation, notices
from listserv.handling.context import Work
from listserv.handling.distribution import distribute
from listserv.handling.plaintext import html_to_text
from listserv.offload import off_loop

log = logging.getLogger(__name__)


async def handle_post(work: Work, mlist: MailingList, row: Inbound) -> str:
    """Decide on a post and carry the decision out; return the inbound row's disposition."""
    await _check_flood(work, mlist)
    policy = await work.policy(mlist)
    size = len(row.raw)
    post = await off_loop(size, parse_post, row.raw, row.mail_from, row.recipient)
    approved = await approvals.approved_post(work, mlist, row, post)
    if approved is not None:  # without the password: it reaches neither members nor archive
        post = await off_loop(size, parse_post, approved, row.mail_from, row.recipient)
    member = await work.member(mlist, post.author)
    window = timedelta(hours=policy.duplicate_window_hours)
    duplicate = bool(policy.duplicate_window_hours) and await history.seen_message_id(
        work.session, list_id=mlist.id, message_id=row.message_id, since=work.now - window,
        exclude_id=row.id)
    facts = Facts(member.status() if member else SenderStatus(post.author), duplicate,
                  approved is not None)
    outcome = await off_loop(size, process, post, policy, facts, message_id=work.message_id(),
                             now=work.now, html_to_text=html_to_text)
    row.rule_hits = [{"rule": h.rule, "reason": h.reason, "action": str(h.action)}
                     for h in outcome.hits]
    disposition = _disposition(outcome)
    log.info("%s from %s to %s: %s%s", post.message_id or "(no Message-ID)", post.author
             or "(no author)", policy.address, disposition,
             f" ({outcome.hits[0].rule}: {outcome.hits[0].reason})" if outcome.hits else "")
    match outcome:
        case Distribute():
            if outcome.removed:
                log.info("%s: content filtering removed %s", post.message_id
                         or "(no Message-ID)", "; ".join(outcome.removed))
            await distribute(work, mlist, post, outcome.message)
            work.accepted[mlist.id] = work.accepted.get(mlist.id, 0) + 1
        case Hold():
            await moderation.hold(work, mlist, row, post, outcome.hits,
                                  with_hits_header(post.raw, outcome.hits))
        case Reject():
            await _reject(work, mlist, post, outcome.hits)
        case Forward():
            await _forward(work, mlist, post, outcome.hits[0].reason)
    return disposition


async def _check_flood(work: Work, mlist: MailingList) -> None:
    """Past the list's flood limit of accepted posts, switch on emergency moderation."""
    policy = await work.policy(mlist)
    if not policy.flood_max_posts or mlist.emergency:
        return
    if mlist.id not in work.accepted:
        window = timedelta(minutes=policy.flood_window_minutes)
        work.accepted[mlist.id] = await history.accepted_since(work.session, mlist.id,
                                                               work.now - window)
    accepted = work.accepted[mlist.id]
    if accepted < policy.flood_max_posts:
        return
    mlist.emergency = True
    log.warning("%s: %d posts accepted within %d minutes; emergency moderation is on",
                mlist.address, accepted, policy.flood_window_minutes)
    staff = await staff_addresses(work.session, mlist.id)
    if staff:
        message = flood_notice(await work.policy(mlist), accepted, policy.flood_window_minutes,
                               to=staff, message_id=work.message_id(), now=work.now)
        await notices.send(work, mlist, message, staff, "flood")


def _disposition(outcome: Outcome) -> str:
    return {Distribute: history.ACCEPTED, Hold: "held", Reject: "rejected",
            Forward: "forwarded"}.get(type(outcome), "discarded")


async def _reject(work: Work, mlist: MailingList, post: Post, hits: list[Hit]) -> None:
    policy = await work.policy(mlist)
    notice = rejection(post, policy, explanations(hits, Action.REJECT, post, policy),
                       size_limit=work.settings.max_message_size,
                       message_id=work.message_id(), now=work.now)
    await notices.answer(work, mlist, post, notice, "rejection")


async def _forward(work: Work, mlist: MailingList, post: Post, reason: str) -> None:
    """Send the owners a post that content filtering left nothing of (Mailman's forward)."""
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if not owners:  # nobody to forward to: as discard
        log.warning("%s: %s has no owners to forward the filtered post to",
                    post.message_id or "(no Message-ID)", mlist.address)
        return
    notice = filtered_out(post, await work.policy(mlist), reason, to=owners,
                          size_limit=work.settings.max_message_size,
                          message_id=work.message_id(), now=work.now)
    await notices.send(work, mlist, notice, owners, "filtered")
