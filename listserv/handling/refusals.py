# SPDX-License-Identifier: Apache-2.0
"""Recipients delivery gave up on, by what refused them, in the caller's transaction.

A refusal at RCPT is about the recipient: bounces records it and scores the
member as its rules say. A refusal of the message (at MAIL or DATA: a
content filter, say) fails every recipient of the transaction but says
nothing about their mailboxes: nobody is scored, it is logged, and the
owners hear of it once per post (the notice log, keyed by the post's
Message-ID, remembers it for a day). An address the smarthost could not be
offered (no SMTPUTF8) is recorded, never scored, for the owners' daily
summary of failures that did not count.
"""

import logging
from collections.abc import Sequence

from listserv.core.policy import Role
from listserv.core.refusals import Stage, refused_post
from listserv.db.lists import list_by_id
from listserv.db.outbox import Claimed, FailedRecipient
from listserv.db.roster import staff_addresses
from listserv.handling import bounces, notices
from listserv.handling.context import Work

log = logging.getLogger(__name__)

KIND = "post-refused"  # notice_log kind of the owners' notice
TOLD_OF = ("post", "digest")  # what the owners hear of; a refused notice is only logged


async def record(work: Work, failed: Sequence[FailedRecipient]) -> None:
    """Record what refused each recipient delivery gave up on, and tell whom it concerns."""
    refused: dict[tuple[int, int], list[FailedRecipient]] = {}  # by list and job
    for failure in failed:
        if failure.list_id is None:
            continue
        if failure.stage is Stage.MESSAGE:
            refused.setdefault((failure.list_id, failure.job.job_id), []).append(failure)
        else:
            await bounces.record_refusal(work, failure.list_id, failure.address, failure.code,
                                         failure.text, mailbox=failure.stage is Stage.RCPT)
    for (list_id, _), (first, *others) in refused.items():
        await _message_refused(work, list_id, first.job, f"{first.code} {first.text}",
                               1 + len(others))


async def _message_refused(work: Work, list_id: int, job: Claimed, reply: str,
                           recipients: int) -> None:
    """Log a message the smarthost refused as a whole; tell the owners, once per post."""
    log.warning("%s (%s) refused by the smarthost for %d recipients, not retried: %s",
                job.message_id or f"delivery job {job.job_id}", job.kind, recipients, reply)
    mlist = await list_by_id(work.session, list_id)
    if mlist is None or job.kind not in TOLD_OF:
        return
    key = (job.message_id or f"job {job.job_id}")[:320]
    if not await notices.within_daily_limit(work, 1, address=key, mlist=mlist, kind=KIND):
        return  # another transaction of the same post was refused before
    notices.count(work, mlist, key, KIND)
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if owners:
        await notices.send(work, mlist, refused_post(
            await work.policy(mlist), job.raw, reply, recipients, to=owners,
            message_id=work.message_id(), now=work.now), owners, KIND)
