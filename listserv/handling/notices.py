# SPDX-License-Identifier: Apache-2.0
"""Mail listserv writes on its own: notices, automatic answers, and the daily limits.

Every automatic answer goes through answer(): never to mail that must not be
answered (RFC 3834, core.notices.may_autorespond), and no more than the
site's daily limit to one address. within_daily_limit() is the one count
behind every daily limit (answers, confirmation requests, forwards to owners).
"""

import logging
from collections.abc import Sequence
from datetime import timedelta
from email.message import EmailMessage

from listserv.core.message import Post
from listserv.core.notices import may_autorespond
from listserv.db import history
from listserv.db.models import MailingList
from listserv.handling.context import Work
from listserv.outbound.queueing import queue_notice

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


async def send(work: Work, mlist: MailingList, message: EmailMessage, to: Sequence[str],
               kind: str, mail_from: str | None = None) -> None:
    """Queue a message listserv wrote for the given addresses (from the list's bounce
    address unless mail_from says otherwise)."""
    await queue_notice(work.session, message, to, await work.policy(mlist), mlist.id, kind,
                       mail_from)


def count(work: Work, mlist: MailingList, address: str, kind: str) -> None:
    """Count a message towards the daily limits."""
    history.log_notice(work.session, list_id=mlist.id, address=address, kind=kind,
                       now=work.now)


async def within_daily_limit(work: Work, limit: int, *, address: str | None = None,
                             mlist: MailingList | None = None, kind: str | None = None) -> bool:
    """Whether fewer than limit messages went out in the last day (to the address, of the
    list, of the kind: each where given)."""
    sent = await history.notices_since(work.session, work.now - DAY, address=address,
                                       list_id=mlist.id if mlist else None, kind=kind)
    return sent < limit


async def may_answer(work: Work, post: Post) -> bool:
    """Whether the sender of this mail may get an automatic answer now (RFC 3834)."""
    if not may_autorespond(post):
        return False
    address = post.mail_from.lower()
    if await within_daily_limit(work, work.settings.autoresponses_per_day, address=address):
        return True
    log.info("%s: no answer to %s, daily limit of automatic answers reached",
             post.message_id or "(no Message-ID)", address)
    return False


async def answer(work: Work, mlist: MailingList, post: Post, message: EmailMessage,
                 kind: str) -> bool:
    """Send an automatic answer to the envelope sender of post, where one is allowed."""
    if not await may_answer(work, post):
        return False
    await send(work, mlist, message, [post.mail_from], kind)
    count(work, mlist, post.mail_from.lower(), kind)
    return True
