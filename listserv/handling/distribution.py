# SPDX-License-Identifier: Apache-2.0
"""An accepted post's way out: archived, kept for the digest, queued for the members.

A post accepted at once and a held post a moderator approved both leave
through distribute(), in the caller's transaction. The archive and the digest
keep the post with its real author; what the members get is outbound's
business (DMARC mitigation, sealing, personal copies).

The members are queued a roster chunk (db.roster.ROSTER_CHUNK) at a time:
the first in the post's transaction, the others each in a transaction of its
own (continue_fanout), so that delivery starts at once and a list of a million
members costs no more memory than one of five thousand.
"""

from email.message import EmailMessage

from listserv.archive import archive_post
from listserv.core.decoration import render
from listserv.core.digest_entries import entry_for
from listserv.core.footer import footer_text
from listserv.core.message import Post
from listserv.core.recipients import Audience, audience, regular_recipients
from listserv.db import fanouts
from listserv.db.digests import keep_for_digest
from listserv.db.models import MailingList
from listserv.db.outbox import Template
from listserv.db.roster import has_digest_members, subscriber_chunk
from listserv.handling.context import Work
from listserv.offload import off_loop
from listserv.outbound.queueing import post_template, queue_copies


async def distribute(work: Work, mlist: MailingList, post: Post, message: EmailMessage) -> None:
    """Archive a decorated post, keep it for the digest, and queue it for its recipients."""
    policy = await work.policy(mlist)
    kept = await off_loop(len(post.raw), render, message)
    if policy.archive:
        await archive_post(work.session, mlist.id, kept)
    # Read for the digest now, once, not by every digest it goes into (0.7 ms a 5 KB post;
    # half a second for 2,000 MIME parts, so only when someone takes digests).
    entry = await off_loop(len(kept), entry_for, kept, footer_text(policy)) \
        if await has_digest_members(work.session, mlist.id) else None
    keep_for_digest(work.session, mlist.id, kept, entry)
    template = await post_template(post, message, kept, policy, work.settings)
    following = await _queue_chunk(work, mlist.id, audience(post), template, after=0)
    if following is not None:
        await fanouts.start(work.session, mlist.id, following, audience(post), template)


async def continue_fanout(work: Work) -> bool:
    """Queue the next chunk of members of a post still being queued; False if none is."""
    pending = await fanouts.claim(work.session)
    if pending is None:
        return False
    following = await _queue_chunk(work, pending.list_id, pending.audience, pending.template,
                                   after=pending.after_member_id)
    await fanouts.advance(work.session, pending.id, following)
    return True


async def _queue_chunk(work: Work, list_id: int, post: Audience, template: Template, *,
                       after: int) -> int | None:
    """Queue the post for the chunk of members after that member id; return the member id
    the next chunk starts after (None: that was the last)."""
    subscribers, following = await subscriber_chunk(work.session, list_id, after)
    recipients = regular_recipients(subscribers, post)
    work.queued += len(recipients)
    work.leased += await queue_copies(work.session, template, recipients, list_id,
                                      work.settings, work.lease)
    return following
