# SPDX-License-Identifier: Apache-2.0
"""What a smarthost's refusal is about, and the notice that tells the owners of a refused post.

RFC 5321: the reply to RCPT is about one recipient; the replies to MAIL and
to DATA (and a session that could not be opened) are about the message, or
the connection, whatever recipients the transaction had. Only the first can
say a mailbox is gone: a content filter refusing a post at DATA says nothing
about the hundred mailboxes it was for. An address the smarthost was never
offered (it lacks SMTPUTF8, RFC 6531) is not its mailbox's fault either.
"""

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum

from listserv.core.message import header_block, parse_post
from listserv.core.notices import notice
from listserv.core.policy import ListPolicy


class Stage(StrEnum):
    """Which reply decided a recipient's fate."""

    RCPT = "rcpt"  # the smarthost's answer about this recipient
    MESSAGE = "message"  # its answer to MAIL or DATA, or a session that failed
    UNOFFERED = "unoffered"  # never sent: the address needs SMTPUTF8, the smarthost lacks it


# RFC 6531 section 3.5: 553 with X.6.7, "Non-ASCII addresses not permitted for that
# sender/recipient"; listserv writes it itself for the addresses it could not offer.
UNOFFERED_CODE = 553
UNOFFERED_TEXT = ("5.6.7 not sent: the address needs SMTPUTF8 (RFC 6531), which the "
                  "smarthost does not offer")


def refused_post(policy: ListPolicy, raw: bytes, reply: str, recipients: int, *,
                 to: Sequence[str], message_id: str, now: datetime) -> EmailMessage:
    """Tell the owners the smarthost refused a post (or digest) as a whole; its header
    section is attached so they can find it."""
    post = parse_post(raw)
    subject = post.subject or "(no subject)"
    body = (f"The smarthost refused a message of {policy.address}:\n\n"
            f"  Subject:    {subject}\n"
            f"  Message-ID: {post.message_id or '(none)'}\n\n"
            f"It answered, about the message rather than any recipient:\n\n  {reply}\n\n"
            f"Delivery to {recipients} recipients failed for good (this notice comes once;\n"
            "the post's other recipients refused the same way are not listed). Nobody's\n"
            "bounce score was raised: the refusal says nothing about their mailboxes.\n"
            "The smarthost's log says why (a content filter, say).\n")
    # The subject as it went out, the list's prefix included.
    message = notice(policy, ", ".join(to), f"The smarthost refused: {subject}"[:200], body,
                     message_id=message_id, now=now)
    headers = header_block(raw).decode("ascii", "replace")
    message.add_attachment(headers, subtype="rfc822-headers", disposition="inline")
    return message
