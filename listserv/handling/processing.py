# SPDX-License-Identifier: Apache-2.0
"""Route one stored message to the flow its recipient address names, in the caller's
transaction.

The recipient is classified once: a post goes to posts, mail to -owner to
owners, replies to -confirm+TOKEN to confirmations, commands to
-request/-join/-leave to commands, and mail to -bounces to bounces. This
module decides nothing about the message itself.
"""

from listserv.core.addresses import Destination, is_postmaster, split_recipient
from listserv.db.models import Inbound, InboundState
from listserv.errors import Unprocessable
from listserv.handling import bounces, commands, confirmations, owners, postmaster, posts
from listserv.handling.context import Work


async def process_stored(work: Work, row: Inbound) -> str:
    """Process one inbound row; return its list's address ('' for the postmaster's mail).
    The caller commits (or marks the row failed on an exception)."""
    work.origin = row.message_id or "(no Message-ID)"
    recipient = split_recipient(row.recipient)
    mlist = await work.find_list(recipient.list_key) if recipient else None
    row.claimed_at, row.claimed_by, row.attempts = work.now, work.worker, row.attempts + 1
    if mlist is None and is_postmaster(row.recipient):  # a list of that name would come first
        row.disposition = await postmaster.forward(work, row)
        row.state, row.processed_at = InboundState.DONE, work.now
        return ""
    if recipient is None or mlist is None:
        raise Unprocessable(f"no list for {row.recipient} any more")
    row.list_id = mlist.id
    destination = recipient.destination
    if destination is Destination.POST:
        row.disposition = await posts.handle_post(work, mlist, row)
    elif destination is Destination.OWNER:
        row.disposition = await owners.forward(work, mlist, row)
    elif destination is Destination.CONFIRM:
        row.disposition = await confirmations.handle_reply(work, mlist, row, recipient.extension)
    elif destination in (Destination.REQUEST, Destination.JOIN, Destination.LEAVE):
        row.disposition = await commands.handle_request(work, mlist, row, destination)
    else:  # Destination.BOUNCES
        row.disposition = await bounces.handle_bounce(work, mlist, row, recipient.extension)
    row.state, row.processed_at = InboundState.DONE, work.now
    return mlist.address
