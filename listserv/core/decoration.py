# SPDX-License-Identifier: Apache-2.0
"""Decoration of an accepted post as list mail: subject prefix, footer, list headers, Reply-To.

decorate() works on a copy of the post's message (the Post is never changed)
and takes the fresh Message-ID and the time from the shell. The result is
what goes to the members and to the archive; per-member parts (VERP, a
personal footer, one-click unsubscribe) are added later. render() turns it
into the octets handed to the smarthost. Neither raises on a Post that
parse_post produced.
"""

import copy
import io
import re
from collections.abc import Iterable
from datetime import datetime
from email.generator import Generator
from email.header import Header
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import format_datetime
from email.utils import quote as quote_phrase
from urllib.parse import quote

from listserv.core import urls
from listserv.core.footer import add_footer, footer_text, limit_line_lengths, repair_headers
from listserv.core.headers import MAX_PARSED
from listserv.core.message import POLICY, Post, header_text, parse_post
from listserv.core.policy import ListPolicy, Personalize, ReplyTo
from listserv.core.replies import REPLY_PREFIXES

# Headers are written as they came (refold_source="none"): the email package would
# otherwise refold long ones and turn a long Message-ID in References into encoded
# words, which breaks threading. Over-long lines are folded by decorate() instead.
SMTP_POLICY = POLICY.clone(linesep="\r\n", utf8=False, refold_source="none")
_FALLBACK_POLICY = compat32.clone(linesep="\r\n")

# Ours to set; a post forwarded from another list carries that list's (RFC 2369, 2919, 5064).
_LIST_HEADERS = ("List-Id", "List-Post", "List-Help", "List-Subscribe", "List-Unsubscribe",
                 "List-Unsubscribe-Post", "List-Owner", "List-Archive", "Archived-At",
                 "Precedence", "X-BeenThere", "Sender")
# Return-Path belongs to the final delivery (RFC 5321 section 4.4); Approved carries the
# list password; X-Listserv-Rule-Hits is for moderators only.
_INCOMING = ("Return-Path", "X-Listserv-Rule-Hits", "Approved", "Approve",
             "X-Approved", "X-Approve")
# The author's signatures, which the list's changes may break (core.policy: dkim_keep_incoming).
SIGNATURES = ("DKIM-Signature",)
_LINE_END = re.compile(rb"\r\n|\r|\n")
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
# The email package's generator recurses about five frames per MIME level; deeper
# mail is passed on unparsed. Postfix's mime_nesting_limit is 100 as well.
MAX_NESTING = 100
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")  # RFC 5322 atext and spaces
_MAILTO_SAFE = "!$'()*+,;:@"  # RFC 6068 section 2, some-delims


def decorate(post: Post, policy: ListPolicy, *, message_id: str, now: datetime) -> EmailMessage:
    """Return the post as it goes to members and to the archive (no per-member parts)."""
    message = _decorated_headers(post, policy, message_id, now)
    if _nesting(message) > MAX_NESTING:
        _keep_raw_body(message, post.raw)
        return message
    # With full personalisation each member's copy gets its own footer at delivery.
    footer = footer_text(policy) if policy.personalize is not Personalize.FULL else ""
    try:
        if footer:
            add_footer(message, footer)
        limit_line_lengths(message)
    except Exception:
        # The email package raises on MIME nobody foresaw; the post then goes out
        # without its footer rather than not at all.
        message = _decorated_headers(post, policy, message_id, now)
    return message


def render(message: Message) -> bytes:
    """Serialise list mail for SMTP: CRLF line ends, non-ASCII headers as encoded words."""
    for policy in (SMTP_POLICY, _FALLBACK_POLICY):
        try:
            output = message.as_bytes(policy=policy)
            break
        except Exception:  # e.g. 8-bit octets in a multipart without a boundary
            continue
    else:
        output = _rendered_as_text(message)
    # A multipart without a boundary is written as it came, bare LFs included;
    # RFC 5322 section 2.3 allows CR and LF only together.
    return _LINE_END.sub(b"\r\n", output)


def prefixed_subject(subject: str, prefix: str) -> str:
    """The subject with the list's prefix in front, once: not again after Re:, AW:, Fwd: …"""
    prefix = prefix.strip()
    if not prefix:
        return subject
    if not subject.strip():
        return f"{prefix} (no subject)"
    replies = REPLY_PREFIXES.match(subject)
    rest = subject[replies.end():] if replies else subject
    if rest.casefold().startswith(prefix.casefold()):
        return subject
    return f"{prefix} {subject}"


def list_headers(policy: ListPolicy) -> list[tuple[str, str]]:
    """The list headers every copy of the list's mail carries (RFC 2369, RFC 2919)."""
    headers = [
        ("List-Id", _list_id(policy)),
        ("List-Post", _mailto(policy.address)),
        ("List-Help", _mailto(policy.sub_address("-request"), "?subject=help")),
        ("List-Subscribe", _mailto(policy.sub_address("-join"))),
        # The copy every member gets; with a web side, delivery puts each member's own
        # one-click link first and adds List-Unsubscribe-Post (core.personal, RFC 8058).
        ("List-Unsubscribe", _mailto(policy.sub_address("-leave"))),
        ("List-Owner", _mailto(policy.sub_address("-owner"))),
    ]
    if archive := urls.archive_url(policy):
        headers.append(("List-Archive", f"<{archive}>"))
    headers += [("Precedence", "list"),
                ("X-BeenThere", policy.address),
                ("Sender", policy.sub_address("-bounces"))]  # as Mailman: bounces come to us
    return headers


def add_list_headers(message: Message, policy: ListPolicy) -> None:
    """Give list mail (a post or a digest) the list headers, replacing any it carries."""
    for name, value in list_headers(policy):
        _put(message, name, value)


def _decorated_headers(post: Post, policy: ListPolicy, message_id: str,
                       now: datetime) -> EmailMessage:
    """A copy of the post's message with every header decoration applied."""
    message = _copy(post)
    _strip(message, (*_INCOMING, *_LIST_HEADERS, *policy.strip_headers,
                     *(() if policy.dkim_keep_incoming else SIGNATURES)))
    if not header_text(message, "Message-ID"):
        set_header(message, "Message-ID", message_id)
    if not header_text(message, "Date"):
        set_header(message, "Date", format_datetime(now))
    _prefix_subject(message, policy.subject_prefix)
    _set_reply_to(message, policy)
    add_list_headers(message, policy)
    if permalink := urls.archived_at(policy, _message_id(message)):
        _put(message, "Archived-At", f"<{permalink}>")  # RFC 5064
    repair_headers(message)
    return message


def _nesting(message: Message) -> int:
    """How deep the MIME structure goes, counted without recursion."""
    deepest, stack = 0, [(message, 1)]
    while stack:
        part, depth = stack.pop()
        deepest = max(deepest, depth)
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in payload if isinstance(sub, Message))
    return deepest


def _keep_raw_body(message: Message, raw: bytes) -> None:
    """Send the body as it came, unparsed: the generator could not write it part by part."""
    end = _END_OF_HEADERS.search(raw)
    body = raw[end.end():] if end else b""
    message.set_payload(body.replace(b"\x00", b"").decode("ascii", "surrogateescape"))


def _copy(post: Post) -> EmailMessage:
    try:
        return copy.deepcopy(post.message)
    except Exception:  # RecursionError on deeply nested MIME
        return parse_post(post.raw, post.mail_from, post.recipient).message


def _strip(message: Message, names: Iterable[str]) -> None:
    for name in names:
        if name := name.strip().rstrip(":").strip():
            del message[name]  # every occurrence, case-insensitively


def _set_reply_to(message: Message, policy: ListPolicy) -> None:
    if policy.reply_to == ReplyTo.LIST:
        set_header(message, "Reply-To", policy.address)
    elif policy.reply_to == ReplyTo.EXPLICIT and policy.reply_to_address.strip():
        set_header(message, "Reply-To", policy.reply_to_address)


def _clean(text: str) -> str:
    """Text that encodes: raw octets are read as UTF-8, what is not becomes U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped octet
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def _prefix_subject(message: Message, prefix: str) -> None:
    """Put the list's prefix in front of the subject, unless it is there already."""
    subject = header_text(message, "Subject")
    prefixed = prefixed_subject(subject, prefix)
    if prefixed == subject:
        return
    raw = next((value for name, value in message.raw_items() if name.lower() == "subject"), "")
    if not subject.strip() or not isinstance(raw, str) or hasattr(raw, "name") \
            or not raw.isascii():
        set_header(message, "Subject", prefixed)  # none to keep, or 8-bit octets to encode
        return
    # The subject as received, folding and encoded words included, behind the prefix:
    # nothing decoded and encoded again, nothing refolded, whatever its length (#14.2).
    head = prefix.strip()
    if not head.isascii():  # RFC 2047 section 5 (1); the space stays in an encoded word
        head = Header(head + " " if raw.lstrip().startswith("=?") else head, "utf-8").encode()
    del message["Subject"]
    message.set_raw("Subject", f"{head} {raw.lstrip()}")


def set_header(message: Message, name: str, value: str, *, replace: bool = True) -> None:
    """Replace every `name` header (or with replace=False, add one) with the text, parsed by
    the message's policy (RFC 2047 on output).

    A value longer than the header model parses in linear time is encoded whole instead.
    """
    if replace:
        del message[name]
    value = _one_line(value)
    if len(value) <= MAX_PARSED:
        try:
            message[name] = value
            return
        except Exception:  # the header parser has raised on odd text
            pass
    message.set_raw(name, Header(value, "utf-8", header_name=name).encode())


def _put(message: Message, name: str, value: str) -> None:
    """Replace every `name` header with one written exactly as given when it is ASCII."""
    value = _one_line(value)
    if not value.isascii():
        set_header(message, name, value)
        return
    # Parsed as unstructured text, a long URL or Message-ID would be folded into encoded words.
    del message[name]
    message.set_raw(name, value)


def _list_id(policy: ListPolicy) -> str:
    """Display Name <ops.example.com> (RFC 2919 section 3), the name quoted or encoded."""
    list_id = policy.list_id.strip().strip("<>").strip() or policy.address.replace("@", ".")
    name = _one_line(policy.display_name)
    if not name:
        return f"<{list_id}>"
    if not name.isascii():  # RFC 2047 section 5 (3): encoded words may stand for phrase words
        phrase = " ".join(Header(name, "utf-8").encode().split())
    elif _ATOMS.fullmatch(name):
        phrase = name
    else:
        phrase = f'"{quote_phrase(name)}"'
    return f"{phrase} <{list_id}>"


def _mailto(address: str, query: str = "") -> str:
    return f"<mailto:{quote(_one_line(address), safe=_MAILTO_SAFE)}{query}>"


def _message_id(message: Message) -> str:
    """The Message-ID between its angle brackets, as the archive files the post."""
    text = header_text(message, "Message-ID")
    bracketed = re.search(r"<([^<>]*)>", text)
    return _clean(bracketed.group(1) if bracketed else text).strip()


def _rendered_as_text(message: Message) -> bytes:
    """The last resort: the text generator, which re-encodes what the bytes one cannot write."""
    buffer = io.StringIO()
    Generator(buffer, mangle_from_=False, policy=_FALLBACK_POLICY).flatten(message)
    text = buffer.getvalue()
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")
