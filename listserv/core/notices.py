# SPDX-License-Identifier: Apache-2.0
"""Mail listserv writes itself: when it may answer, and the notices it sends."""

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from listserv.core.message import POLICY, Post, header_block, header_text, parse_post
from listserv.core.policy import ListPolicy

# Attach the whole rejected message up to this size, only its headers above it.
ATTACH_WHOLE_LIMIT = 256 * 1024


def may_autorespond(post: Post) -> bool:
    """Whether an automatic answer to this post's sender is allowed.

    Never answer the null sender or a mailer daemon, auto-submitted mail
    (RFC 3834) or bulk and list mail: that is how mail loops start.
    """
    sender = post.mail_from.lower()
    if not sender or sender.split("@")[0] in {"mailer-daemon", "postmaster"}:
        return False
    if header_text(post.message, "Auto-Submitted").lower() not in {"", "no"}:
        return False
    if header_text(post.message, "Precedence").lower() in {"bulk", "list", "junk"}:
        return False
    return not header_text(post.message, "List-Id")


def notice(policy: ListPolicy, to: str, subject: str, body: str, *,
           message_id: str, now: datetime) -> EmailMessage:
    """A plain notice from the list's owner address, marked as an automatic reply."""
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((f"{policy.display_name} owner", policy.sub_address("-owner")))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834
    message["X-BeenThere"] = policy.address
    message.set_content(body)
    return message


def rejection(post: Post, policy: ListPolicy, reasons: list[str], *,
              message_id: str, now: datetime) -> EmailMessage:
    """Tell the author why their post was rejected, with the post attached."""
    because = "\n".join(f"  - {reason}" for reason in reasons)
    body = (f"Your message to {policy.address} was rejected:\n\n{because}\n\n"
            f"Questions go to the list's owners at {policy.sub_address('-owner')}.\n")
    message = notice(policy, post.mail_from,
                     f"Your message to {policy.display_name} was rejected: {post.subject}"[:200],
                     body, message_id=message_id, now=now)
    if len(post.raw) <= ATTACH_WHOLE_LIMIT:
        message.add_attachment(parse_post(post.raw).message, disposition="inline")
    else:
        headers = header_block(post.raw).decode("ascii", "replace")
        message.add_attachment(headers, subtype="rfc822-headers", disposition="inline")
    if post.message_id:
        message["In-Reply-To"] = post.message_id
    return message
