# SPDX-License-Identifier: Apache-2.0
"""Mail to postmaster@ (RFC 5321 4.5.1): passed on to LISTSERV_POSTMASTER, unchanged but
for a loop marker.

It goes with the null sender: a copy the postmaster's mailbox refuses makes
no bounce that could come back here (or reach whoever wrote). It is one copy
to one fixed address for each message taken, so it needs no daily limit.
"""

import logging

from listserv.core.message import header_texts, parse_post
from listserv.db import outbox
from listserv.db.models import Inbound
from listserv.errors import Unprocessable
from listserv.handling.context import Work

log = logging.getLogger(__name__)

KIND = "postmaster"  # delivery_job.kind


async def forward(work: Work, row: Inbound) -> str:
    """Queue the message for the site's postmaster; return the inbound row's disposition."""
    to = work.settings.postmaster
    if to is None:
        raise Unprocessable("LISTSERV_POSTMASTER is not set any more")
    marker = f"postmaster@{work.settings.hostname}".lower()
    message = parse_post(row.raw).message
    if marker in (text.lower() for text in header_texts(message, "X-BeenThere")):
        log.warning("%s to %s not forwarded: it has been here before", row.message_id,
                    row.recipient)
        return "discarded"
    await outbox.enqueue(work.session, list_id=None, kind=KIND, mail_from="",
                         raw=f"X-BeenThere: {marker}\r\n".encode() + row.raw,
                         transactions=[[to]], message_id=row.message_id)
    return "forwarded"
