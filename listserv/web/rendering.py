# SPDX-License-Identifier: Apache-2.0
"""A stored post made into what a page shows: its headers, its text as safe HTML, its
attachments, every address concealed as the list says.

Text parts are escaped and linked by core.markup; an HTML part (shown only
when there is no plain text) is cleaned by nh3 to a small set of tags, with
no images, no styles and no script, its links marked nofollow. This is the
one place a post's HTML becomes Markup. Parsing a large post takes time:
callers run show_post in a thread.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import nh3
from markupsafe import Markup

from listserv.core import urls
from listserv.core.markup import linkify
from listserv.core.message import header_text, parse_post
from listserv.core.obfuscation import HIDDEN, conceal, conceal_text
from listserv.core.policy import ArchiveAddresses, ListPolicy
from listserv.core.reading import Attachment, Shown, read

# No images (remote ones would tell their sender who reads the archive, and the
# pages' Content-Security-Policy blocks them anyway) and no image maps.
_TAGS = nh3.ALLOWED_TAGS - {"img", "map", "area"}
_LINK_REL = "noopener noreferrer nofollow"
_SCHEMES = {"http", "https", "mailto"}
_SHOWN_HEADERS = ("To", "Cc")


@dataclass(frozen=True, slots=True)
class ShownPost:
    """A post as a page shows it."""

    seq: int
    path: str  # the post's page
    subject: str
    author: str
    date: datetime
    headers: tuple[tuple[str, str], ...]  # To, Cc as written, addresses concealed
    body: tuple[tuple[Markup, bool], ...]  # each part shown, and whether it was HTML
    attachments: tuple[tuple[Attachment, str], ...]  # with its download path
    raw_path: str


def author(name: str, address: str, mode: ArchiveAddresses) -> str:
    """Who wrote a post, as the list shows it: 'Alice Example <alice at example.org>'."""
    name = " ".join(name.split())
    name = "" if name.lower() == address.lower() else conceal_text(name, mode)
    shown = conceal(address, mode)
    if name and shown:
        return f"{name} <{shown}>"
    return name or shown or (HIDDEN if address else "(unknown)")


def shown_subject(subject: str, mode: ArchiveAddresses) -> str:
    """A subject as the list shows it."""
    return conceal_text(subject, mode) or "(no subject)"


def html_part(html: str, mode: ArchiveAddresses) -> Markup:
    """A post's HTML cleaned to what a page may show, its addresses concealed."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        # A mailto: link would carry the address the text no longer shows.
        hides = mode is not ArchiveAddresses.SHOW and value.lower().startswith("mailto:")
        return None if attribute == "href" and hides else value

    cleaned = nh3.clean(html, tags=_TAGS, link_rel=_LINK_REL, url_schemes=_SCHEMES,
                        strip_comments=True, attribute_filter=keep)
    # Concealing only rewrites addresses into letters and spaces: the markup stays as nh3
    # wrote it.
    return Markup(conceal_text(cleaned, mode))  # cleaned by nh3 above


def text_part(text: str, mode: ArchiveAddresses) -> Markup:
    """A text part escaped, its links made clickable, its addresses concealed."""
    return Markup(linkify(conceal_text(text, mode)))  # escaped by linkify


def _body(shown: Sequence[Shown], mode: ArchiveAddresses) -> tuple[tuple[Markup, bool], ...]:
    return tuple((html_part(part.text, mode) if part.html else text_part(part.text, mode),
                  part.html) for part in shown)


def show_post(address: str, raw: bytes, *, seq: int, message_id: str, subject: str,
              author_name: str, author_address: str, date: datetime,
              policy: ListPolicy) -> ShownPost:
    """The post as a page shows it (the columns are the archive's, read from raw)."""
    mode = policy.archive_addresses
    message = parse_post(raw).message
    reading = read(message)
    headers = tuple((name, conceal_text(value, mode)) for name in _SHOWN_HEADERS
                    if (value := header_text(message, name)))
    return ShownPost(
        seq=seq, path=urls.message_path(address, message_id),
        subject=shown_subject(subject, mode),
        author=author(author_name, author_address, mode), date=date, headers=headers,
        body=_body(reading.shown, mode),
        attachments=tuple((attachment, urls.attachment_path(address, seq, attachment.number))
                          for attachment in reading.attachments),
        raw_path=urls.raw_path(address, seq))
