# SPDX-License-Identifier: Apache-2.0
"""An accepted post's way out: archived, kept for the digest, queued for the members.

A post accepted at once and a held post a moderator approved both leave
through distribute(), in the caller's transaction. The archive and the digest
keep the post with its real author; what the members get is outbound's
business (DMARC mitigation, sealing, personal copies).
"""

from collections.abc import Sequence
from email.message import EmailMessage

from listserv.archive import archive_post
from listserv.core.decoration import render
from listserv.core.message import Post
from listserv.db.digests import keep_for_digest
from listserv.db.models import MailingList
from listserv.handling.context import Work
from listserv.offload import off_loop
from listserv.outbound.queueing import queue_post


async def distribute(work: Work, mlist: MailingList, post: Post, message: EmailMessage,
                     recipients: Sequence[str]) -> None:
    """Archive a decorated post, keep it for the digest, and queue it for its recipients."""
    policy = await work.policy(mlist)
    kept = await off_loop(len(post.raw), render, message)
    if policy.archive:
        await archive_post(work.session, mlist.id, kept)
    keep_for_digest(work.session, mlist.id, kept)
    work.queued += len(recipients)
    work.leased += await queue_post(work.session, post, message, kept, recipients, policy,
                                    mlist.id, work.settings, work.lease)
