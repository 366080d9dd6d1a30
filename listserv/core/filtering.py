# SPDX-License-Identifier: Apache-2.0
"""Content filtering: the MIME parts a list lets through, as GNU Mailman's filter_content.

filter_content() walks a post once, before decoration: parts whose type or
file name extension the list filters go, alternatives collapse to the one
the list prefers, HTML may become plain text, and a multipart left with one
part becomes that part, so the structure stays valid. A signed post
(multipart/signed) is left whole, or its signature removed explicitly.
What is left may be nothing; the list's filter_action then decides.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage, Message, MIMEPart
from enum import StrEnum

from listserv.core.message import POLICY

HtmlToText = Callable[[str], str]
# The parts that hold a message's content description; the rest of the top-level header
# section (From, Subject, Message-ID…) stays when the body is replaced by one of its parts.
_CONTENT_HEADERS = ("Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
                    "Content-Description", "Content-ID", "MIME-Version")


class FilterAction(StrEnum):
    """What happens to a post of which the filter leaves nothing."""

    DISCARD = "discard"
    HOLD = "hold"
    REJECT = "reject"
    FORWARD = "forward"  # to the list's owners


class FilterSigned(StrEnum):
    KEEP = "keep"  # a signed post passes whole: filtering would break its signature
    STRIP = "strip"  # the signature goes, and the signed content is filtered


@dataclass(frozen=True, slots=True)
class ContentFilter:
    """A list's content filtering settings."""

    enabled: bool = False
    filter_types: tuple[str, ...] = ()  # MIME types or major types: image, application/pdf
    pass_types: tuple[str, ...] = ()  # when given, only these (and multiparts) pass
    filter_extensions: tuple[str, ...] = ()  # file name extensions: exe, scr
    pass_extensions: tuple[str, ...] = ()  # when given, only named files with these pass
    collapse_alternatives: bool = True
    preferred_alternative: str = "text/plain"
    convert_html_to_plaintext: bool = False
    signed: FilterSigned = FilterSigned.KEEP
    action: FilterAction = FilterAction.DISCARD


@dataclass(frozen=True, slots=True)
class Filtered:
    """The post as filtered (None: nothing was left), and what was taken out."""

    message: EmailMessage | None
    removed: list[str] = field(default_factory=list)  # "image/png (logo.png)", …
    changed: bool = False


def filter_content(message: EmailMessage, rules: ContentFilter,
                   html_to_text: HtmlToText) -> Filtered:
    """Apply the list's filter to a post; the post itself is not changed."""
    if not rules.enabled:
        return Filtered(message)
    removed: list[str] = []
    kept = _filter(message, rules, html_to_text, removed)
    if kept is message:
        return Filtered(message, removed, bool(removed))
    if kept is None:
        return Filtered(None, removed, True)
    return Filtered(_with_top_headers(message, kept), removed, True)


def _filter(part: Message, rules: ContentFilter, html_to_text: HtmlToText,
            removed: list[str]) -> Message | None:
    """The part as filtered: itself, a replacement, or None when it goes."""
    ctype = part.get_content_type()
    if ctype == "multipart/signed":
        if rules.signed is FilterSigned.KEEP:
            return part
        content = _children(part)[:1]
        removed.append("the signature (multipart/signed)")
        return _filter(content[0], rules, html_to_text, removed) if content else None
    # An attached message (message/rfc822) is one part: filtered or kept whole.
    if part.is_multipart() and not ctype.startswith("message/"):
        return _filter_multipart(part, rules, html_to_text, removed)
    if _filtered_out(part, rules):
        removed.append(_describe(part))
        return None
    if ctype == "text/html" and rules.convert_html_to_plaintext:
        return _as_plain_text(part, html_to_text)
    return part


def _filter_multipart(part: Message, rules: ContentFilter, html_to_text: HtmlToText,
                      removed: list[str]) -> Message | None:
    children = _children(part)
    if part.get_content_type() == "multipart/alternative" and rules.collapse_alternatives \
            and children:
        chosen = _preferred(children, rules.preferred_alternative)
        removed.extend(f"{_describe(child)}, an alternative" for child in children
                       if child is not chosen)
        return _filter(chosen, rules, html_to_text, removed)
    kept = [found for child in children
            if (found := _filter(child, rules, html_to_text, removed)) is not None]
    if not kept:
        return None
    if len(kept) == 1:
        return kept[0]  # a multipart of one part is that part
    if all(new is old for new, old in zip(kept, children, strict=False)) \
            and len(kept) == len(children):
        return part
    rebuilt = EmailMessage(policy=POLICY)
    for name, value in part.raw_items():
        rebuilt.set_raw(name, value)
    parts: list[Message | str] = [*kept]
    rebuilt.set_payload(parts)
    if part.get_content_type() == "multipart/related" and part.get_param("type"):
        rebuilt.set_param("type", kept[0].get_content_type())  # its root's (RFC 2387)
    return rebuilt


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] \
        if isinstance(payload, list) else []


def _preferred(children: list[Message], preferred: str) -> Message:
    """The alternative the list prefers (text/plain by default), else the first."""
    return next((child for child in children if child.get_content_type() == preferred),
                children[0])


def _filtered_out(part: Message, rules: ContentFilter) -> bool:
    ctype = part.get_content_type()
    types = {ctype, part.get_content_maintype()}
    extension = _extension(part)
    if types & set(rules.filter_types) or (extension and extension in rules.filter_extensions):
        return True
    if rules.pass_types and not types & set(rules.pass_types):
        return True
    return bool(rules.pass_extensions and extension and extension not in rules.pass_extensions)


def _extension(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # an undecodable file name names nothing we can match
        return ""
    stem, dot, extension = name.strip().rpartition(".")
    return extension.lower() if dot and stem else ""


def _describe(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return f"{part.get_content_type()} ({name})" if name else part.get_content_type()


def _as_plain_text(part: Message, html_to_text: HtmlToText) -> Message:
    try:
        html = part.get_content() if isinstance(part, MIMEPart) else ""
    except Exception:  # a charset Python does not know: the HTML stays as it was
        return part
    text = EmailMessage(policy=POLICY)
    text.set_content(html_to_text(str(html)), subtype="plain", charset="utf-8")
    return text


def _with_top_headers(original: EmailMessage, body: Message) -> EmailMessage:
    """body as the whole message: its content headers, the original's others."""
    # Raw values: the headers go out as the author wrote them (Date, folding, encoded words).
    content = {header.lower() for header in _CONTENT_HEADERS}
    message = EmailMessage(policy=POLICY)
    for name, value in original.raw_items():
        if name.lower() not in content:
            message.set_raw(name, value)
    message["MIME-Version"] = "1.0"
    for name, value in body.raw_items():
        if name.lower() in content - {"mime-version"}:
            message.set_raw(name, value)
    message.set_payload(body.get_payload())
    return message
