# SPDX-License-Identifier: Apache-2.0
"""Queue what listserv sends as delivery jobs, in the caller's transaction.

The members' copies of a post go out DMARC-mitigated where the author's
domain asks for it, with listserv's findings about the post as received at
the top where the site seals; notices go out as written. A post approved or
a notice decided is sent exactly when the caller's transaction commits. This
module decides neither who gets mail nor whether an answer is due.
"""

import random
from collections.abc import AsyncIterable, Sequence
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.decoration import render
from listserv.core.message import Post
from listserv.core.personal import personalization
from listserv.core.policy import ListPolicy
from listserv.core.recipients import chunk
from listserv.db import outbox
from listserv.outbound import authentication, dmarc
from listserv.settings import Settings


async def queue_post(session: AsyncSession, post: Post, message: EmailMessage, kept: bytes,
                     recipients: AsyncIterable[Sequence[str]], policy: ListPolicy,
                     list_id: int, settings: Settings,
                     lease: outbox.Lease | None) -> list[outbox.Claimed]:
    """Queue the members' copies of a decorated post (kept: the message as rendered for
    the archive), recipients coming in batches; return the jobs leased to the caller.

    Only the first batch's jobs are leased: the caller holds them in memory to send at
    once, so the copies start to go out while the rest wait in the queue to be claimed.
    """
    sent = await dmarc.mitigated(message, post, policy, settings.dns_nameserver)
    raw = kept if sent is message else render(sent)
    if settings.seal_as:
        raw = await authentication.record(raw, post.raw, settings)
    personal = personalization(policy, random.random())
    leased: list[outbox.Claimed] = []
    async for batch in recipients:
        leased += await outbox.enqueue(
            session, list_id=list_id, kind="post", raw=raw,
            mail_from=policy.sub_address("-bounces"),
            message_id=str(message.get("Message-ID", "")), lease=None if leased else lease,
            transactions=chunk(batch, settings.max_recipients_per_transaction),
            personal=personal)
    return leased


async def queue_notice(session: AsyncSession, message: EmailMessage, to: Sequence[str],
                       policy: ListPolicy, list_id: int, kind: str,
                       mail_from: str | None = None) -> None:
    """Queue a message listserv wrote (a notice) for the given addresses, from the list's
    bounce address or another envelope sender (a probe's)."""
    await outbox.enqueue(session, list_id=list_id, kind=kind, raw=render(message),
                         mail_from=mail_from or policy.sub_address("-bounces"),
                         transactions=chunk(list(to), max(len(to), 1)),
                         message_id=str(message.get("Message-ID", "")))
