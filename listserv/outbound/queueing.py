# SPDX-License-Identifier: Apache-2.0
"""Queue what listserv sends as delivery jobs, in the caller's transaction.

The members' copies of a post go out DMARC-mitigated where the author's
domain asks for it, with listserv's findings about the post as received at
the top where the site seals; notices go out as written. A post approved or
a notice decided is sent exactly when the caller's transaction commits. This
module decides neither who gets mail nor whether an answer is due.
"""

import random
from collections.abc import Sequence
from email.message import EmailMessage

from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.decoration import render
from listserv.core.message import Post
from listserv.core.personal import personalization
from listserv.core.policy import ListPolicy
from listserv.core.recipients import chunk
from listserv.db import outbox
from listserv.offload import off_loop
from listserv.outbound import authentication, dmarc
from listserv.settings import Settings


async def post_template(post: Post, message: EmailMessage, kept: bytes, policy: ListPolicy,
                        settings: Settings) -> outbox.Template:
    """What the members' copies of a decorated post are made from (kept: the message as
    rendered for the archive): DMARC-mitigated, with the findings to seal."""
    sent = await dmarc.mitigated(message, post, policy, settings.dns_nameserver)
    raw = kept if sent is message else await off_loop(len(kept), render, sent)
    if settings.seal_as:
        raw = await authentication.record(raw, post.raw, settings)
    return outbox.Template(raw, policy.sub_address("-bounces"),
                           str(message.get("Message-ID", "")),
                           personalization(policy, random.random()))


async def queue_copies(session: AsyncSession, template: outbox.Template,
                       recipients: Sequence[str], list_id: int, settings: Settings,
                       lease: outbox.Lease | None) -> list[outbox.Claimed]:
    """Queue a post's copies for these members; return the jobs leased to the caller."""
    return await outbox.enqueue(
        session, list_id=list_id, kind="post", raw=template.raw, mail_from=template.mail_from,
        message_id=template.message_id, lease=lease, personal=template.personal,
        transactions=chunk(recipients, settings.max_recipients_per_transaction))


async def queue_notice(session: AsyncSession, message: EmailMessage, to: Sequence[str],
                       policy: ListPolicy, list_id: int, kind: str,
                       mail_from: str | None = None) -> None:
    """Queue a message listserv wrote (a notice) for the given addresses, from the list's
    bounce address or another envelope sender (a probe's)."""
    await outbox.enqueue(session, list_id=list_id, kind=kind, raw=render(message),
                         mail_from=mail_from or policy.sub_address("-bounces"),
                         transactions=chunk(list(to), max(len(to), 1)),
                         message_id=str(message.get("Message-ID", "")))
