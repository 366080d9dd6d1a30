# SPDX-License-Identifier: Apache-2.0
"""Queue what listserv sends: accepted posts to the members, notices, automatic answers.

Everything goes out through delivery jobs in the caller's transaction, so a
post approved or a notice decided is sent exactly when that transaction
commits. Automatic answers are limited per address per day (notice_log) and
never go to mail that must not be answered (core.notices.may_autorespond).
"""

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession

from listserv.archive import archive_post
from listserv.core.decoration import render
from listserv.core.message import Post
from listserv.core.notices import may_autorespond
from listserv.core.personal import personalization
from listserv.core.policy import ListPolicy
from listserv.core.recipients import chunk
from listserv.db import history, outbox
from listserv.db.models import DigestItem
from listserv.handling.context import ListCache, Site
from listserv.outbound import authentication, dmarc

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


async def distribute(session: AsyncSession, post: Post, message: EmailMessage,
                     recipients: Sequence[str], policy: ListPolicy, list_id: int, site: Site,
                     cache: ListCache) -> None:
    """Archive an accepted, decorated post, keep it for the digest, and queue it for members.

    The archive and the digest keep message with its real author; the members
    get it DMARC-mitigated where the author's domain asks for it (dmarc.mitigated).
    """
    kept = render(message)
    sent = await dmarc.mitigated(message, post, policy, site.dns_nameserver)
    raw = kept if sent is message else render(sent)
    if site.seal_as:
        raw = await authentication.record(raw, post.raw, site)
    if policy.archive:
        await archive_post(session, list_id, kept)
    session.add(DigestItem(list_id=list_id, raw=kept))
    cache.queued += len(recipients)
    personalize, footer = personalization(policy, random.random())
    cache.leased += await outbox.enqueue(
        session, list_id=list_id, kind="post", raw=raw, mail_from=policy.sub_address("-bounces"),
        message_id=str(message.get("Message-ID", "")), lease=cache.lease,
        transactions=chunk(list(recipients), site.max_recipients_per_transaction),
        personalize=personalize, footer=footer)


async def send(session: AsyncSession, message: EmailMessage, to: Sequence[str],
               policy: ListPolicy, list_id: int, kind: str) -> None:
    """Queue a message listserv wrote (a notice) for the given addresses."""
    await outbox.enqueue(session, list_id=list_id, kind=kind, raw=render(message),
                         mail_from=policy.sub_address("-bounces"), transactions=[list(to)],
                         message_id=str(message.get("Message-ID", "")))


async def may_answer(session: AsyncSession, post: Post, site: Site, now: datetime) -> bool:
    """Whether the sender of this mail may get an automatic answer now (RFC 3834)."""
    if not may_autorespond(post):
        return False
    address = post.mail_from.lower()
    if await history.notices_since(session, address, now - DAY) >= site.autoresponses_per_day:
        log.info("%s: no answer to %s, daily limit of automatic answers reached",
                 post.message_id or "(no Message-ID)", address)
        return False
    return True


async def answer(session: AsyncSession, post: Post, message: EmailMessage, policy: ListPolicy,
                 list_id: int, site: Site, now: datetime, kind: str) -> bool:
    """Send an automatic answer to the envelope sender of post, where one is allowed."""
    if not await may_answer(session, post, site, now):
        return False
    await send(session, message, [post.mail_from], policy, list_id, kind)
    history.log_notice(session, list_id=list_id, address=post.mail_from.lower(), kind=kind,
                       now=now)
    return True
