# SPDX-License-Identifier: Apache-2.0
"""The moderator password in a post (Approved:), with a limit on guessing it.

Each wrong password is counted for its list; once core.approval.is_locked
says the list had too many within the hour, posts are handled as if they
carried no password, the right one included, without checking it (which
also spares the hashing), and the owners are told, at most once an hour.
"""

import logging
from datetime import timedelta

from listserv.core import approval
from listserv.core.approval import Approval
from listserv.core.message import Post
from listserv.core.moderation import password_notice
from listserv.core.policy import Role
from listserv.db import approvals, history
from listserv.db.models import Inbound, MailingList
from listserv.db.roster import staff_addresses
from listserv.handling import notices
from listserv.handling.context import Work

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
NOTICE = "password-guessing"  # the notices' kind in the log of notices


async def approved_post(work: Work, mlist: MailingList, row: Inbound, post: Post) -> bytes | None:
    """The post as the moderator password approves it (core.approval.approved_post); None
    without the password, with a wrong one, or while the list ignores it."""
    password_hash = mlist.moderator_password_hash
    if not password_hash or approval.find_password(post.message) is None:
        return None
    since = work.now - HOUR
    failed = await approvals.failures_since(work.session, mlist.id, since)
    if approval.is_locked(len(failed)):
        log.info("%s: the moderator password is ignored on %s: %d wrong ones within the hour",
                 post.message_id or "(no Message-ID)", mlist.address, len(failed))
        return None
    match approval.check_approval(post.message, password_hash):
        case Approval.RIGHT:
            return approval.approved_post(row.raw)
        case Approval.WRONG:
            sender = post.mail_from or post.author
            log.warning("%s: wrong moderator password for %s from <%s>",
                        post.message_id or "(no Message-ID)", mlist.address, sender)
            await approvals.record_failure(work.session, mlist.id, sender, now=work.now,
                                           forget_before=since)
            if approval.is_locked(len(failed) + 1):
                await _tell_owners(work, mlist, [*failed, sender])
    return None


async def _tell_owners(work: Work, mlist: MailingList, senders: list[str]) -> None:
    """Tell the owners the password is ignored now, unless they were told within the hour."""
    if await history.notices_since(work.session, work.now - HOUR, list_id=mlist.id,
                                   kind=NOTICE):
        return
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if not owners:
        log.warning("%s: the moderator password is ignored after wrong guesses; the list "
                    "has no owner to tell", mlist.address)
        return
    message = password_notice(await work.policy(mlist), senders, to=owners,
                              message_id=work.message_id(), now=work.now)
    await notices.send(work, mlist, message, owners, NOTICE)
    for owner in owners:
        notices.count(work, mlist, owner, NOTICE)
