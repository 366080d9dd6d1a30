# SPDX-License-Identifier: Apache-2.0
"""A post's parts as digests carry them: an attachment a digest leaves out becomes a line
naming it, its type and its size.

The plain digest (RFC 1153) always does so; a MIME digest does with
digest_attachments=list (keep: each post whole, as Mailman's MIME digest).
A signed post (multipart/signed) stays whole: listing its parts would break
its signature. Nothing here raises.
"""

from email.message import Message, MIMEPart

from listserv.core.footer import content_type, disposition
from listserv.core.message import POLICY, header_text

# Parts that sign or seal the parts beside them; changing those breaks the signature.
_SEALED = ("multipart/signed", "multipart/encrypted")


def list_attachments(message: Message) -> bool:
    """Replace each attachment in the message by a text part naming it; whether any was.

    An attachment is a part that is not text shown inline: a file, an image, an
    attached message. The message is changed in place.
    """
    try:
        if _is_attachment(message):
            _replace_content(message, note(message))
            return True
        return _list_within(message)
    except Exception:  # the email package raises on MIME nobody foresaw: carried as it is
        return False


def _list_within(message: Message) -> bool:
    changed, stack = False, [message]
    while stack:
        part = stack.pop()
        children = parts_of(part)
        if children is None or content_type(part) in _SEALED:
            continue
        listed: list[Message | str] = [_listed(child) if _is_attachment(child) else child
                                       for child in children]
        if any(new is not old for new, old in zip(listed, children, strict=True)):
            part.set_payload(listed)
            changed = True
        stack.extend(child for child in listed
                     if isinstance(child, Message) and parts_of(child) is not None)
    return changed


def _is_attachment(part: Message) -> bool:
    if parts_of(part) is not None:
        return False
    return not content_type(part).startswith("text/") or disposition(part) == "attachment"


def _listed(part: Message) -> Message:
    line = MIMEPart(policy=POLICY)
    line.set_content(note(part) + "\n", disposition="inline")
    return line


def _replace_content(part: Message, text: str) -> None:
    if isinstance(part, MIMEPart):
        part.set_content(text + "\n", disposition="inline")


def parts_of(part: Message) -> list[Message] | None:
    """The parts of a multipart; None for a leaf (an attached message counts as one)."""
    if content_type(part).startswith("message/") or not part.is_multipart():
        return None
    payload = part.get_payload()
    return [sub for sub in payload if isinstance(sub, Message)] if isinstance(payload, list) \
        else None


def note(part: Message) -> str:
    """What stands for a part that is not text: its name, type and size."""
    kind, name = content_type(part), ""
    try:
        payload = part.get_payload()
        if kind.startswith("message/") and isinstance(payload, list) and payload \
                and isinstance(payload[0], Message):
            name = header_text(payload[0], "Subject")
        else:
            name = part.get_filename() or ""
    except Exception:  # malformed parameters
        pass
    shown = f'"{readable(name)}"' if name else "(no name)"
    return f"[Attachment not included: {shown}, {kind}, {size_text(_encoded_size(part))}]"


def _encoded_size(part: Message) -> int:
    """About how many octets the part holds once decoded."""
    total = 0
    try:
        for leaf in part.walk():
            payload = leaf.get_payload()
            if isinstance(payload, str):
                octets = len(payload) - payload.count("\n") - payload.count("\r")
                base64 = header_text(leaf, "Content-Transfer-Encoding").lower() == "base64"
                total += octets * 3 // 4 if base64 else octets
    except Exception:  # a structure walk() cannot follow; the size is only shown
        pass
    return total


def size_text(octets: int) -> str:
    if octets < 1024:
        return f"{octets} bytes"
    if octets < 1024 * 1024:
        return f"{octets / 1024:.0f} KB"
    return f"{octets / (1024 * 1024):.1f} MB"


def readable(text: str) -> str:
    """Text that UTF-8 can carry: octets the parser kept undecoded are read as UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no octet
        return text.encode("utf-8", "replace").decode("utf-8")
