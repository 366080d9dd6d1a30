# SPDX-License-Identifier: Apache-2.0
"""An accepted post's way out: archived, kept for the digest, queued for the members.

A post accepted at once and a held post a moderator approved both leave
through distribute(), in the caller's transaction. The archive and the digest
keep the post with its real author; what the members get is outbound's
business (DMARC mitigation, sealing, personal copies). The roster is read and
queued a chunk at a time (db.roster.ROSTER_CHUNK members), so a list of a
million members costs no more memory than one of five thousand.
"""

from collections.abc import AsyncIterator
from email.message import EmailMessage

from listserv.archive import archive_post
from listserv.core.decoration import render
from listserv.core.message import Post
from listserv.core.recipients import regular_recipients
from listserv.db.digests import keep_for_digest
from listserv.db.models import MailingList
from listserv.db.roster import subscriber_chunks
from listserv.handling.context import Work
from listserv.outbound.queueing import queue_post


async def distribute(work: Work, mlist: MailingList, post: Post, message: EmailMessage) -> None:
    """Archive a decorated post, keep it for the digest, and queue it for its recipients."""
    policy = await work.policy(mlist)
    kept = render(message)
    if policy.archive:
        await archive_post(work.session, mlist.id, kept)
    keep_for_digest(work.session, mlist.id, kept)
    work.leased += await queue_post(work.session, post, message, kept, _recipients(
        work, mlist, post), policy, mlist.id, work.settings, work.lease)


async def _recipients(work: Work, mlist: MailingList, post: Post) -> AsyncIterator[list[str]]:
    """The post's recipients, a roster chunk at a time, counted as they are chosen."""
    async for subscribers in subscriber_chunks(work.session, mlist.id):
        chosen = regular_recipients(subscribers, post)
        work.queued += len(chosen)
        yield chosen
