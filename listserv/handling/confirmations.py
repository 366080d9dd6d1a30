# SPDX-License-Identifier: Apache-2.0
"""Mail to ops-confirm+TOKEN@: find what the token stands for and act on the reply.

A token was mailed to one person only: the moderators of a held post, its
author (to withdraw it), or the address a request is about. A reply with
a token of another list, an unknown, used or expired token, or from someone
who may not decide, changes nothing. The envelope sender gets a short answer
within the daily limit of automatic answers, whoever it is (RFC 3834; never
to an automatic reply or a bounce, which get nothing).
"""

import logging

from listserv.core import moderation as texts
from listserv.core.addresses import sub_address
from listserv.core.message import Post, parse_post
from listserv.core.moderation import Decision, Verdict, parse_decision, parse_withdrawal
from listserv.core.notices import may_autorespond
from listserv.core.policy import Role
from listserv.core.replies import reply_lines, reply_subject
from listserv.db import held as db_held
from listserv.db.models import HeldMessage, Inbound, MailingList
from listserv.handling import moderation, notices, subscriptions
from listserv.handling.context import Work

log = logging.getLogger(__name__)

READ_LINES = 3  # a decision is the first line; a few more cost nothing


async def handle_reply(work: Work, mlist: MailingList, row: Inbound, token: str) -> str:
    """Act on a reply to a confirm address; return the inbound row's disposition."""
    post = parse_post(row.raw, row.mail_from, row.recipient)
    if not may_autorespond(post):
        log.info("%s to %s ignored: automatic mail decides nothing", work.origin, row.recipient)
        return "ignored"
    held = await db_held.by_token(work.session, mlist.id, token)
    if held is not None and held.token == token:
        text = await _moderator_reply(work, mlist, post, held)
    elif held is not None:
        text = await _author_reply(work, mlist, post, held)
    elif (answered := await subscriptions.confirm(work, mlist, post, token,
                                                  by_reply=True)) is not None:
        text = answered
    else:
        log.info("%s to %s: unknown, used or expired token", work.origin, row.recipient)
        text = ("Nothing was done: this reply address is unknown, already used, or expired. "
                f"Requests about {mlist.address} go to {sub_address(mlist.address, '-request')}.")
    await _answer(work, mlist, post, text)
    return "answered"


async def _is_staff(work: Work, mlist: MailingList, post: Post) -> bool:
    """Whether the reply's From is a moderator or owner of the list."""
    member = await work.member(mlist, post.author)
    return member is not None and member.role in (Role.MODERATOR, Role.OWNER)


async def _moderator_reply(work: Work, mlist: MailingList, post: Post,
                           held: HeldMessage) -> str:
    if not await _is_staff(work, mlist, post):
        log.warning("%s: %s is no moderator of %s; held post %d not decided", work.origin,
                    post.author or "(no author)", mlist.address, held.id)
        return ("Nothing was done: only the list's moderators and owners can decide on held "
                "posts, and your address is not one of them.")
    if (refusal := await moderation.unproven(work, mlist, post,
                                             "decide with the listserv held command")):
        return refusal
    if (closed := moderation.closed(held, work.now)) is not None:
        return closed
    decision = parse_decision(reply_subject(post.subject),
                              reply_lines(post.message, limit=READ_LINES))
    if decision is None:
        return ("Nothing was done: the first line of your reply is not a decision. "
                "Answer with one of: approve, approve always, reject REASON, discard, ban, "
                "defer.")
    return await moderation.decide(work, mlist, held, decision, post.author)


async def _author_reply(work: Work, mlist: MailingList, post: Post, held: HeldMessage) -> str:
    if held.decided_at is not None:
        return f"Nothing was done: your post was already decided on ({held.decision})."
    if not parse_withdrawal(reply_lines(post.message, limit=READ_LINES)):
        return ("Nothing was done. To withdraw your post, reply with the word withdraw; "
                "otherwise it stays with the moderators.")
    return await moderation.decide(work, mlist, held, Decision(Verdict.WITHDRAW),
                                   post.author or post.mail_from)


async def _answer(work: Work, mlist: MailingList, post: Post, text: str) -> None:
    """Answer the reply's envelope sender, within the daily limit (moderators too: a forged
    From must not turn listserv into a mail cannon)."""
    message = texts.answer(await work.policy(mlist), post.mail_from, text,
                           regarding=post.subject, now=work.now, message_id=work.message_id())
    if post.message_id:
        message["In-Reply-To"] = post.message_id
    await notices.answer(work, mlist, post, message, "answer")
