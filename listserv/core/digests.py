# SPDX-License-Identifier: Apache-2.0
"""Digests: when a list's digest is due, how it is numbered, and the digest in two formats.

A digest goes out when the posts collected reach the list's size, or once a
scheduled moment (daily, or weekly on a set day, at an hour of the list's
time zone) has passed since the oldest of them arrived; so a digest that fell
due while the server was down goes out when it is back. The MIME digest
carries each post in a multipart/digest (RFC 2046 section 5.1.5), its
attachments listed by name (digest_attachments=list, core.digest_parts) or
kept; the plain one (RFC 1153) carries each post's text, with a one-line
note for every part that is not text. Nothing here raises: a post that cannot
be read still gets its line in the table of contents and its place.
"""

import hashlib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from email import quoprimime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from listserv.core.decoration import add_list_headers, render
from listserv.core.digest_entries import Entry, Topic, entry_for, escaped, topic_of
from listserv.core.digest_parts import readable
from listserv.core.footer import MAX_LINE, footer_text
from listserv.core.message import POLICY, header_block
from listserv.core.personal import MEMBER_FIELD
from listserv.core.policy import (
    DigestAttachments,
    DigestPeriod,
    ListPolicy,
    Schedule,
    VolumePeriod,
    Weekday,
)

RFC1153_START = "-" * 70  # between the table of contents and the first post
RFC1153_SEPARATOR = "-" * 30  # after each post
PREAMBLE = b"This is a MIME digest: a table of contents, then each post as a part.\r\n"
_WEEKDAYS = tuple(Weekday)


@dataclass(frozen=True, slots=True)
class Issue:
    """A digest's number: Vol 3, Issue 12."""

    volume: int
    number: int  # 0 before the volume's first digest

    def __str__(self) -> str:
        return f"Vol {self.volume}, Issue {self.number}"


def zone(name: str) -> tzinfo:
    """The IANA time zone of that name; UTC for a name that is none."""
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, or ValueError for a name like "../x"
        return UTC


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _slots(schedule: Schedule, now: datetime) -> tuple[datetime, datetime] | None:
    """The scheduled moments at or just before now and just after it (UTC); None for never.

    Each is the hour on the wall clock of the list's time zone: an hour that a
    change to summer time skips is taken as the moment of the change, an hour
    that comes twice as its first occurrence.
    """
    if schedule.period == DigestPeriod.NEVER:
        return None
    local = zone(schedule.timezone)
    hour = time(min(max(schedule.hour, 0), 23))
    day, step = _aware(now).astimezone(local).date(), 1
    if schedule.period == DigestPeriod.WEEKLY:
        day -= timedelta(days=(day.weekday() - _WEEKDAYS.index(schedule.weekday)) % 7)
        step = 7

    def at(when: date) -> datetime:
        # Compared in UTC: aware datetimes of one tzinfo compare by wall clock alone.
        return datetime.combine(when, hour, tzinfo=local).astimezone(UTC)

    moments = [at(day + timedelta(days=step * k)) for k in (-1, 0, 1)]
    now = _aware(now).astimezone(UTC)
    return (max((m for m in moments if m <= now), default=moments[0]),
            min((m for m in moments if m > now), default=moments[-1]))


def next_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The next scheduled moment after now (UTC), or None for a size-only list."""
    slots = _slots(schedule, now)
    return slots[1] if slots else None


def is_due(schedule: Schedule, *, size: int, oldest: datetime | None, now: datetime) -> bool:
    """Whether the digest goes out now: posts wait (oldest is when the first arrived), and
    they reach the size limit, or a scheduled moment has come since the oldest arrived."""
    if oldest is None:
        return False  # an empty period sends nothing
    if size >= max(schedule.size_kb, 1) * 1024:
        return True
    slots = _slots(schedule, now)
    return slots is not None and _aware(oldest) < slots[0]


def next_issue(last: Issue, *, last_sent_at: datetime | None, now: datetime, timezone: str,
               volume_period: VolumePeriod) -> Issue:
    """The number of the digest going out now, after the last one the list sent.

    Issues count up by one per digest. A new volume starts at issue 1 with the
    first digest of a new year in the list's time zone (volume_period yearly),
    or after new_volume().
    """
    volume = max(last.volume, 1)
    if last.number <= 0:
        return Issue(volume, 1)
    if volume_period == VolumePeriod.YEARLY and last_sent_at is not None:
        local = zone(timezone)
        if _aware(now).astimezone(local).year > _aware(last_sent_at).astimezone(local).year:
            return Issue(volume + 1, 1)
    return Issue(volume, last.number + 1)


def new_volume(last: Issue) -> Issue:
    """The numbering after an operator starts a new volume: the next digest is its issue 1.

    A volume without a digest yet is not ended again.
    """
    return last if last.number <= 0 else Issue(last.volume + 1, 0)


def digest_name(policy: ListPolicy) -> str:
    return f"{readable(policy.display_name).strip() or policy.address.partition('@')[0]} Digest"


def digest_subject(policy: ListPolicy, issue: Issue) -> str:
    """Operations Excellence Digest, Vol 3, Issue 12"""
    return f"{digest_name(policy)}, {issue}"


def topics(posts: Sequence[bytes | Entry]) -> list[Topic]:
    """Each post's subject and author (of a post as received, from its headers alone)."""
    return [post.topic if isinstance(post, Entry) else topic_of(post) for post in posts]


def table_of_contents(policy: ListPolicy, issue: Issue, entries: Sequence[Topic]) -> str:
    """The digest's opening text: what it is, where to write, and a line per post."""
    reply = ("When replying, please change the subject to say more than "
             f'"Re: {digest_name(policy)}".')
    lines = [digest_subject(policy, issue), "",
             f"Post to the list:    {policy.address}",
             f"Delivery, leaving:   {policy.sub_address('-request')} (subject: help)",
             f"The list's owners:   {policy.sub_address('-owner')}", "",
             textwrap.fill(reply, width=72, break_on_hyphens=False), "",
             f"Topics in this issue ({len(entries)}):", ""]
    for number, topic in enumerate(entries, 1):
        lines.append(textwrap.fill(f"{number:>4}. {topic.subject} ({topic.author})", width=72,
                                   subsequent_indent=" " * 6, break_on_hyphens=False))
    return "\n".join(lines) + "\n"


def build_mime_digest(policy: ListPolicy, issue: Issue, posts: Sequence[bytes | Entry], *,
                      message_id: str, now: datetime) -> bytes:
    """The MIME digest as octets for SMTP: multipart/mixed holding the table of contents,
    a multipart/digest with each post as message/rfc822, and the footer.

    Each post is an Entry made when it was collected, or the post itself (decorated
    with the list's footer), which is then read here, one at a time.
    """
    footer, listing = footer_text(policy), policy.digest_attachments is DigestAttachments.LIST
    bodies: list[bytes] = []
    entries: list[Topic] = []
    for post in posts:
        entry = _entry(post, footer)
        bodies.append(entry.listed if listing and entry.listed is not None else entry.attached)
        entries.append(entry.topic)
    texts = [_text_part(table_of_contents(policy, issue, entries), "Table of contents")]
    if footer := _footer(policy):
        texts.append(_text_part(footer, "Footer"))
    outer, inner = (_boundary(kind, message_id, [*bodies, *texts]) for kind in ("mixed", "digest"))
    eight_bit = b"" if all(body.isascii() for body in bodies) else \
        b"Content-Transfer-Encoding: 8bit\r\n"
    attached = [b"Content-Type: message/rfc822\r\n"
                + (b"" if body.isascii() else b"Content-Transfer-Encoding: 8bit\r\n")
                + b"\r\n" + body for body in bodies]
    digest = (b'Content-Type: multipart/digest; boundary="' + inner + b'"\r\n' + eight_bit
              + b"Content-Description: The posts (%d)\r\n\r\n" % len(posts)
              + _multipart(inner, attached))
    head = header_block(render(_head(policy, issue, message_id, now)))
    return (head + b'\r\nContent-Type: multipart/mixed; boundary="' + outer + b'"\r\n'
            + eight_bit + b"\r\n" + PREAMBLE + _multipart(outer, [texts[0], digest, *texts[1:]]))


def build_plain_digest(policy: ListPolicy, issue: Issue, posts: Sequence[bytes | Entry], *,
                       message_id: str, now: datetime) -> bytes:
    """The RFC 1153 digest as octets for SMTP: the table of contents, each post's headers
    and text between separator lines, the footer and the trailer (posts as for
    build_mime_digest)."""
    footer = footer_text(policy)
    entries: list[Topic] = []
    texts: list[str] = []
    for post in posts:  # a post received as it is is parsed, used and dropped
        entry = _entry(post, footer)
        entries.append(entry.topic)
        texts.append(entry.text)
    lines = [table_of_contents(policy, issue, entries), RFC1153_START, ""]
    for text in texts:
        lines += [text, "", RFC1153_SEPARATOR, ""]
    if footer := _footer(policy):
        lines += ["Subject: Digest Footer", "", escaped(footer), "",
                  RFC1153_SEPARATOR, ""]
    end = f"End of {digest_subject(policy, issue)}"
    lines += [end, "*" * len(end)]
    text = readable("\n".join(lines) + "\n")
    cte = _transfer_encoding(text)
    message = _head(policy, issue, message_id, now)
    message.set_content("\n", cte=cte)  # for its headers: the body is written below
    return header_block(render(message)) + b"\r\n\r\n" + _text_body(text, cte)


def _entry(post: bytes | Entry, footer: str) -> Entry:
    return post if isinstance(post, Entry) else entry_for(post, footer)


def _text_body(text: str, cte: str) -> bytes:
    """The text as set_content encodes it and render writes it, CRLF line ends: megabytes of
    digest without the email generator's work for each line."""
    body = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    if cte == "quoted-printable":
        # set_content's line length: the message policy's (78)
        body = quoprimime.body_encode(body.decode("latin-1"), POLICY.max_line_length or 78).encode()
    return body.replace(b"\n", b"\r\n")


def _footer(policy: ListPolicy) -> str:
    """The list's footer; lines naming the member are for personal copies of posts only."""
    return "\n".join(line for line in footer_text(policy).splitlines()
                     if MEMBER_FIELD not in line).strip("\n")


def _head(policy: ListPolicy, issue: Issue, message_id: str, now: datetime) -> EmailMessage:
    """The digest's own headers: from the -request address, replies to the list (as Mailman)."""
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((digest_name(policy), policy.sub_address("-request")))
    message["To"] = policy.address
    message["Reply-To"] = policy.address
    message["Subject"] = digest_subject(policy, issue)
    message["Date"] = format_datetime(_aware(now))
    message["Message-ID"] = message_id
    message["MIME-Version"] = "1.0"
    add_list_headers(message, policy)
    return message


def _text_part(text: str, description: str) -> bytes:
    part = MIMEPart(policy=POLICY)
    text = readable(text)
    part.set_content(text, cte=_transfer_encoding(text))
    part["Content-Description"] = description
    return render(part)


def _transfer_encoding(text: str) -> str:
    short = all(len(line.encode()) <= MAX_LINE for line in text.splitlines())
    return "7bit" if short and text.isascii() else "quoted-printable"


def _multipart(boundary: bytes, parts: Sequence[bytes]) -> bytes:
    """A multipart body: each part after a delimiter line, then the close delimiter.

    The CRLF before each delimiter belongs to it (RFC 2046 section 5.1.1).
    """
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) \
        + b"--" + boundary + b"--\r\n"


def _boundary(kind: str, seed: str, parts: Sequence[bytes]) -> bytes:
    """A boundary that occurs in none of the parts; "=_" never occurs in quoted-printable."""
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{kind}/{seed}/{attempt}".encode("utf-8", "replace"))
        boundary = f"=_{kind}_{digest.hexdigest()[:32]}".encode()
        if not any(boundary in part for part in parts):
            return boundary
        attempt += 1
