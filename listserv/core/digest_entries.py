# SPDX-License-Identifier: Apache-2.0
"""A post as digests carry it, worked out once when the post is collected.

Reading a post for a digest means parsing it, taking off the list's footer
(the digest carries it once, at its end), and for the plain digest (RFC 1153)
finding its text. That costs about 0.5 ms a post, which a digest of 5,000
posts would pay at once, and for every format it is built in; an Entry holds
the outcome, so the collecting worker pays it once a post and a digest only
joins entries. Nothing here raises: a post that cannot be read still gets a
line in the table of contents and its place.
"""

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from listserv.core.decoration import render
from listserv.core.digest_parts import list_attachments, note, parts_of, readable, size_text
from listserv.core.footer import MAX_LINE, content_type, disposition, remove_footer
from listserv.core.message import Post, header_block, header_text, parse_post
from listserv.core.replies import body_text

TEXT_LIMIT = 1 << 20  # octets of one part's text in a plain digest
MAX_PARTS = 1000  # parts of one post shown in a plain digest
# A body line like a separator would split the post for digest bursters (RFC 1153).
_SEPARATOR_LIKE = re.compile(r"^(-{30,}[ \t]*)$", re.MULTILINE)
_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Topic:
    """A post's line in the table of contents."""

    subject: str
    author: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One post as each digest format carries it, without the list's footer."""

    topic: Topic
    attached: bytes  # the body of its message/rfc822 part in a MIME digest
    listed: bytes | None  # the same with its attachments named instead (None: it has none)
    text: str  # its part of a plain digest: Date, From, Subject, Message-ID, then its text


def entry_for(raw: bytes, footer: str) -> Entry:
    """The post (as decorated, footer and all) as digests carry it: one parse."""
    post = parse_post(raw)
    removed = bool(footer) and _remove_footer(post.message, footer)
    text = _plain_post(post)
    attached = _as_attached(render(post.message) if removed else raw)
    listed = _as_attached(render(post.message)) if list_attachments(post.message) else None
    return Entry(_topic(post), attached, listed, text)


def topic_of(raw: bytes) -> Topic:
    """The post's subject and author, from its headers alone."""
    return _topic(parse_post(header_block(raw) + b"\r\n\r\n"))


def escaped(text: str) -> str:
    """The text with LF line ends, separator-like lines indented by a space."""
    return _SEPARATOR_LIKE.sub(r" \1", "\n".join(text.splitlines()))


def _remove_footer(message: EmailMessage, footer: str) -> bool:
    """Take the list's footer off a post: the digest carries it once, at its end."""
    try:
        return remove_footer(message, footer)
    except Exception:  # the email package raises on MIME nobody foresaw; keep the footer
        return False


def _as_attached(raw: bytes) -> bytes:
    """The post as the body of a message/rfc822 part: CRLF line ends, no NUL, no line
    longer than SMTP carries (decoration leaves such lines only in mail it cannot parse)."""
    data = _LINE_END.sub(b"\r\n", raw.replace(b"\x00", b"")).removesuffix(b"\r\n")
    lines = data.split(b"\r\n")
    if max(map(len, lines)) > MAX_LINE:
        lines = [line[start:start + MAX_LINE] for line in lines
                 for start in range(0, len(line) or 1, MAX_LINE)]
    return b"\r\n".join(lines) + b"\r\n"


def _topic(post: Post) -> Topic:
    return Topic(readable(post.subject) or "(no subject)",
                 readable(post.author_name) or post.author or "unknown sender")


def _plain_post(post: Post) -> str:
    """One post of a plain digest: Date, From, Subject and Message-ID, then its text."""
    lines = []
    for name in ("Date", "From", "Subject", "Message-ID"):
        value = readable(header_text(post.message, name))
        if value or name == "Subject":
            lines.append(f"{name}: {value or '(no subject)'}")
    try:
        text = _post_text(post.message)
    except Exception:  # the email package raises on MIME nobody foresaw
        text = f"[This post could not be read ({size_text(len(post.raw))}); it is not included.]"
    return "\n".join(lines) + "\n\n" + escaped(text)


def _post_text(message: Message) -> str:
    """The text of a post: its text parts in order, a note for every other part."""
    body = _main_body(message)
    pieces = []
    for part in _leaves(message, body):
        if part is body or (content_type(part) == "text/plain"
                            and disposition(part) != "attachment"):
            pieces.append(body_text(part, TEXT_LIMIT).strip("\r\n"))
        elif content_type(part).startswith("multipart/"):  # one the parser could not split
            pieces.append(str(part.get_payload())[:TEXT_LIMIT].strip("\r\n"))
        else:
            pieces.append(note(part))
    return "\n\n".join(piece for piece in pieces if piece)


def _main_body(message: Message) -> Message | None:
    try:
        if isinstance(message, EmailMessage):
            return message.get_body(preferencelist=("plain", "html"))
    except Exception:  # get_body trips over some broken structures
        pass
    return None


def _leaves(message: Message, body: Message | None) -> list[Message]:
    """The leaf parts in order; of alternatives, only the one holding the body (or the
    plain one) is kept."""
    path = _path_to(message, body)
    leaves: list[Message] = []
    stack = [message]
    while stack and len(leaves) < MAX_PARTS:
        part = stack.pop()
        children = parts_of(part)
        if children is None:
            leaves.append(part)
            continue
        if content_type(part) == "multipart/alternative" and children:
            children = [c for c in children if id(c) in path] or [next(
                (c for c in children if content_type(c) == "text/plain"), children[0])]
        stack.extend(reversed(children))
    return leaves


def _path_to(message: Message, body: Message | None) -> set[int]:
    """The ids of the body part and of every part that contains it."""
    parents: dict[int, Message] = {}
    stack = [message]
    while stack:
        part = stack.pop()
        for child in parts_of(part) or []:
            parents[id(child)] = part
            stack.append(child)
    path, node = set(), body
    while node is not None:
        path.add(id(node))
        node = parents.get(id(node))
    return path
