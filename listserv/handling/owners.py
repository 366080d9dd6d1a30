# SPDX-License-Identifier: Apache-2.0
"""Mail to ops-owner@: passed on to the list's owners, unchanged but for a loop marker."""

import logging

from listserv.core.addresses import sub_address
from listserv.core.message import header_texts, parse_post
from listserv.core.policy import Role
from listserv.db import outbox
from listserv.db.models import Inbound, MailingList
from listserv.db.roster import staff_addresses
from listserv.errors import Unprocessable
from listserv.handling.context import Work

log = logging.getLogger(__name__)


async def forward(work: Work, mlist: MailingList, row: Inbound) -> str:
    """Queue the message for the owners; return the inbound row's disposition."""
    owner_address = sub_address(mlist.address, "-owner")
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if not owners:
        raise Unprocessable(f"{mlist.address} has no owners to forward to")
    message = parse_post(row.raw).message
    if owner_address in (text.lower() for text in header_texts(message, "X-BeenThere")):
        log.warning("%s to %s not forwarded: it has been here before", row.message_id,
                    row.recipient)
        return "discarded"
    raw = f"X-BeenThere: {owner_address}\r\n".encode() + row.raw
    await outbox.enqueue(work.session, list_id=mlist.id, kind="owner", raw=raw,
                         transactions=[owners], mail_from=sub_address(mlist.address, "-bounces"),
                         message_id=row.message_id)
    return "forwarded"
