# SPDX-License-Identifier: Apache-2.0
"""Mail listserv writes itself: when it may answer, and the notices it sends."""

import textwrap
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from listserv.core.message import POLICY, Post, header_block, header_text, parse_post
from listserv.core.policy import ListPolicy

# Notices to the owners attach a message whole up to this size, only its headers above it.
ATTACH_WHOLE_LIMIT = 256 * 1024
SUBJECT_LIMIT = 200  # characters of a notice's subject
NOTICE_ROOM = 64 * 1024  # octets a rejection keeps for its own text beside the post
WIDTH = 72  # of the paragraphs in a notice's body


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
    """A plain notice from the list's owner address, marked as an automatic reply.

    The subject is put on one line, without the spaces an empty part of it leaves.
    """
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((f"{policy.display_name} owner", policy.sub_address("-owner")))
    message["To"] = to
    readable = subject.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    message["Subject"] = " ".join(readable.split())[:SUBJECT_LIMIT]
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834
    message["X-BeenThere"] = policy.address
    message.set_content(body)
    return message


def list_name(policy: ListPolicy) -> str:
    """What notices call the list: its display name, else its address."""
    return policy.display_name.strip() or policy.address


def about(text: str, subject: str) -> str:
    """A notice's subject about a message: "text: subject", or the text alone."""
    return f"{text}: {subject}" if subject.strip() else text


def rejection(post: Post, policy: ListPolicy, reasons: Sequence[str], *, size_limit: int,
              message_id: str, now: datetime) -> EmailMessage:
    """Tell the author why their post was rejected, with the post attached: whole while the
    notice stays within size_limit (the site's largest message), else its header section."""
    whole = len(post.raw) + NOTICE_ROOM <= size_limit
    left_out = "" if whole else (
        f"Your message ({kib(len(post.raw))}) is too large to send back whole: "
        "its header section is attached, its body is left out.\n\n")
    body = (f"Your message to {policy.address} was rejected.\n\n{paragraphs(reasons)}\n\n"
            f"{left_out}Questions go to the list's owners at "
            f"{policy.sub_address('-owner')}.\n")
    message = notice(policy, post.mail_from,
                     about(f"Your message to {list_name(policy)} was rejected", post.subject),
                     body, message_id=message_id, now=now)
    _attach(message, post, whole)
    if post.message_id:
        message["In-Reply-To"] = post.message_id
    return message


def filtered_out(post: Post, policy: ListPolicy, reason: str, *, to: Sequence[str],
                 size_limit: int, message_id: str, now: datetime) -> EmailMessage:
    """Give the owners a post that content filtering left nothing of, attached (whole while
    the notice stays within size_limit): it went to nobody else (filter_action=forward)."""
    whole = len(post.raw) + NOTICE_ROOM <= size_limit
    author = post.author or post.mail_from or "an unknown sender"
    body = (f"A message to {policy.address} from {author} was not sent to the members:\n\n"
            f"{paragraphs([reason])}\n\n"
            f"The list's filter_action is forward: this is the only copy of it that was "
            f"sent{'' if whole else ' (too large to attach whole: its header section)'}.\n")
    message = notice(policy, ", ".join(to),
                     about(f"Content filtered out of a message to {list_name(policy)}",
                           post.subject), body, message_id=message_id, now=now)
    _attach(message, post, whole)
    return message


def _attach(message: EmailMessage, post: Post, whole: bool) -> None:
    """Attach the post whole, or its header section alone."""
    if whole:
        message.add_attachment(parse_post(post.raw).message, disposition="inline")
    else:
        headers = header_block(post.raw).decode("ascii", "replace")
        message.add_attachment(headers, subtype="rfc822-headers", disposition="inline")


def attachable(raw: bytes, size_limit: int) -> bytes:
    """The post a notice attaches: whole while the notice stays within size_limit (the site's
    largest message), else cut at a line end before the room the notice's own text needs."""
    if len(raw) + NOTICE_ROOM <= size_limit:
        return raw
    room = max(size_limit - NOTICE_ROOM, size_limit // 2)
    return raw[:raw.rfind(b"\n", 0, room) + 1 or room]


def kib(size: int) -> str:
    """A size in KB as notices write it, rounded up."""
    return f"{-(-size // 1024):,} KB"


def paragraphs(texts: Sequence[str]) -> str:
    """Texts as indented paragraphs of a notice's body; addresses are never broken."""
    return "\n\n".join(textwrap.fill(text, WIDTH, initial_indent="  ", subsequent_indent="  ",
                                     break_long_words=False, break_on_hyphens=False)
                       for text in texts)
