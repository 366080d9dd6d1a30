# SPDX-License-Identifier: Apache-2.0
"""The body of list mail: where the footer goes, and lines short enough for SMTP.

A footer is appended to a plain-text body only when that body decodes without
loss; anything else gets it as a MIME part of its own, and signed or encrypted
mail gets none at all; remove_footer takes it off again (a digest carries
the footer once, not once per post). Afterwards no header or body line is
longer than SMTP allows. Nothing here raises on a message parse_post produced.
"""

import base64
import copy
import quopri
import re
from email.message import EmailMessage, Message
from string import Formatter

from listserv.core import urls
from listserv.core.headers import set_fields
from listserv.core.message import header_text
from listserv.core.policy import ListPolicy

SEPARATOR = "_" * 47  # Mailman's footer rule
MAX_LINE = 998  # octets, not counting CRLF (RFC 5322 section 2.1.1, RFC 5321 section 4.5.3.1.6)

# Any change to the body of these breaks the signature or cannot be read
# (RFC 1847 section 2.1 for PGP/MIME, RFC 8551 section 3.2 for S/MIME).
_SEALED = frozenset({"multipart/signed", "multipart/encrypted",
                     "application/pkcs7-mime", "application/x-pkcs7-mime"})
_NEWLINE = re.compile(r"\r\n|\r|\n")
_NAME = re.compile(r"\{(\w+)\}")
# str.splitlines() breaks lines here too, so the generator would write the rest of such
# a header as a line of its own and end the header section early.
_STRAY_BREAK = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_FOLD_AT = 78  # RFC 5322 section 2.1.1: lines SHOULD be no longer


class _Values(dict[str, str]):
    """Template values that leave an unknown {name} as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def footer_text(policy: ListPolicy) -> str:
    """The list's footer with its {names} filled in; '' when the list has none."""
    if not policy.footer.strip():
        return ""
    values = _Values(display_name=policy.display_name or policy.address.partition("@")[0],
                     list_address=policy.address,
                     request_address=policy.sub_address("-request"),
                     unsubscribe_address=policy.sub_address("-leave"),
                     archive_url=urls.archive_url(policy))
    if _has_plain_fields(policy.footer):
        return policy.footer.format_map(values)
    # A stray brace, {0}, {name.attr} or {name:spec}: fill in the plain {names} and keep
    # the rest as written (attribute access would also print the innards of a str).
    return _NAME.sub(lambda match: values[match.group(1)], policy.footer)


def _has_plain_fields(template: str) -> bool:
    """Whether every replacement field is a bare {name}, so that format_map cannot fail."""
    try:
        fields = list(Formatter().parse(template))
    except ValueError:  # a single { or }
        return False
    return all(name is None or (name.isidentifier() and not spec and not conversion)
               for _, name, spec, conversion in fields)


def add_footer(message: EmailMessage, footer: str) -> None:
    """Add the footer where it cannot damage the body; leave signed and encrypted mail alone."""
    kind = content_type(message)
    if kind in _SEALED:
        return
    if (kind == "text/plain" and not message.is_multipart()
            and disposition(message) != "attachment" and _append_text(message, footer)):
        return
    part = _footer_part(footer, message)
    if kind == "multipart/mixed" and message.is_multipart():
        message.attach(part)
    else:
        _wrap_mixed(message, part)
    _declare_mime(message)


def remove_footer(message: EmailMessage, footer: str) -> bool:
    """Take off the footer add_footer put on (the text appended, or the part added, and the
    multipart/mixed it wrapped the post in); False when the message does not end with it."""
    if not footer.strip():
        return False
    if content_type(message) == "text/plain" and not message.is_multipart():
        decoded = _decoded_text(message)
        tail = _joined("", footer, _is_flowed(message))
        if decoded is None or not (text := _NEWLINE.sub("\n", decoded[0])).endswith(tail):
            return False
        return _write_text(message, text.removesuffix(tail), decoded[1])
    parts = message.get_payload() if message.is_multipart() \
        and content_type(message) == "multipart/mixed" else None
    if not isinstance(parts, list) or len(parts) < 2 or not isinstance(parts[-1], Message) \
            or not _is_footer(parts[-1], footer):
        return False
    message.set_payload(parts[:-1])
    if len(parts) == 2 and isinstance(parts[0], EmailMessage):
        _unwrap(message, parts[0])
    return True


def _is_footer(part: Message, footer: str) -> bool:
    """Whether the part is the footer part add_footer makes for this footer."""
    decoded = _decoded_text(part)
    return (content_type(part) == "text/plain" and disposition(part) == "inline"
            and decoded is not None
            and _NEWLINE.sub("\n", decoded[0]) == _joined("", footer, False).lstrip("\n"))


def _unwrap(message: EmailMessage, inner: EmailMessage) -> None:
    """Give the message its only part's content back, as before _wrap_mixed."""
    for name in {name.lower() for name in message}:
        if name.startswith("content-"):
            del message[name]
    for name, value in inner.raw_items():
        if name.lower().startswith("content-"):
            message.set_raw(name, value)
    message.preamble, message.epilogue = inner.preamble, inner.epilogue
    message.set_payload(inner.get_payload())


def limit_line_lengths(message: Message) -> None:
    """Fold long header lines; re-encode bodies with a line over 998 octets.

    Text is re-encoded quoted-printable, anything else base64.
    Signed and encrypted parts are left as they are, like the footer leaves them.
    """
    if content_type(message) in _SEALED:
        return
    repair_headers(message)
    if message.is_multipart():
        _wrap_ignored_text(message)
        for part in message.get_payload():
            if isinstance(part, Message):
                limit_line_lengths(part)
    elif _has_long_line(message):
        data = message.get_payload(decode=True)
        if isinstance(data, bytes):
            cte = "quoted-printable" if message.get_content_maintype() == "text" else "base64"
            _set_body(message, data, cte)


def repair_headers(part: Message) -> None:
    """Make the headers as received safe to write as they are (refold_source="none")."""
    items = list(part.raw_items())
    repaired = [(name, _repaired(name, value)) for name, value in items]
    if all(new is old for (_, new), (_, old) in zip(repaired, items, strict=True)):
        return
    set_fields(part, repaired)


def _repaired(name: str, value: str) -> str:
    """The value without stray line breaks, folded at whitespace when a line is over 998."""
    if hasattr(value, "name"):
        return value  # parsed by the policy, which folds it on output
    if _STRAY_BREAK.search(value):
        value = _STRAY_BREAK.sub(" ", value)
    if all(len(line) <= MAX_LINE - len(name) - 2 for line in _NEWLINE.split(value)):
        return value
    # Folding at whitespace keeps References and Received intact (RFC 5322 section 2.2.3);
    # only a word that no fold can bring under the limit is split.
    longest = max(MAX_LINE - len(name) - 2, _FOLD_AT)
    lines, room = [""], _FOLD_AT - len(name) - 2
    for word in value.split():
        for piece in (word[start:start + longest] for start in range(0, len(word), longest)):
            if lines[-1] and len(lines[-1]) + 1 + len(piece) > room:
                lines.append("")
                room = _FOLD_AT - 1
            lines[-1] = f"{lines[-1]} {piece}" if lines[-1] else piece
    return "\n ".join(lines)


def content_type(part: Message) -> str:
    """The part's content type; application/octet-stream when its header cannot be read."""
    try:
        return part.get_content_type()
    except Exception:  # the email package raises on some malformed headers
        return "application/octet-stream"


def disposition(part: Message) -> str:
    """The part's content disposition, '' when absent or unreadable."""
    try:
        return part.get_content_disposition() or ""
    except Exception:
        return ""


def _declare_mime(message: Message) -> None:
    # A body with a charset or parts is MIME; say so (RFC 2045 section 4).
    if "MIME-Version" not in message:
        message["MIME-Version"] = "1.0"


def _decoded_text(part: Message) -> tuple[str, str] | None:
    """(text, charset) of a text part when it decodes and encodes back to the same octets."""
    defects = len(part.defects)
    try:
        data = part.get_payload(decode=True)
        charset = part.get_content_charset() or "us-ascii"
        if not isinstance(data, bytes) or len(part.defects) > defects:
            return None  # e.g. broken base64: re-encoding it would make the damage permanent
        text = data.decode(charset)
        if text.encode(charset) != data:
            return None  # a lossy codec would corrupt the body on the way back
    except Exception:  # LookupError (unknown charset), UnicodeError, and the email package's own
        return None
    return text, charset


def _append_text(part: EmailMessage, footer: str) -> bool:
    """Append the footer to a text/plain body in its charset, else UTF-8; False if it can't."""
    decoded = _decoded_text(part)
    if decoded is None:
        return False
    text, charset = decoded
    return _write_text(part, _joined(text, footer, _is_flowed(part)), charset)


def _write_text(part: EmailMessage, body: str, charset: str) -> bool:
    """Make body (LF line ends) the part's text, in charset if it can carry it, else UTF-8."""
    try:
        data = body.encode(charset)
    except (UnicodeError, LookupError):
        charset = "utf-8"
        data = body.encode(charset)
        try:
            part.set_param("charset", charset)
        except Exception:
            return False
    cte = _transfer_encoding(data, header_text(part, "Content-Transfer-Encoding").lower())
    if cte == "base64":  # RFC 2045 section 6.8: text is encoded in its canonical CRLF form
        data = body.replace("\n", "\r\n").encode(charset)
    _set_body(part, data, cte)
    _declare_mime(part)
    return True


def _is_flowed(part: Message) -> bool:
    try:
        return str(part.get_param("format", "")).lower() == "flowed"
    except Exception:
        return False


def _joined(text: str, footer: str, flowed: bool) -> str:
    """The body, a blank line, the separator rule and the footer, with LF line ends."""
    body = _NEWLINE.sub("\n", text)
    if body and not body.endswith("\n"):
        body += "\n"
    lines = _NEWLINE.split(footer.rstrip("\r\n"))
    if flowed:
        # RFC 3676: a trailing space would join the line to the next (section 4.2),
        # and lines starting with a space, ">" or "From " are space-stuffed (section 4.4).
        lines = [_stuffed(line.rstrip(" ")) for line in lines]
    return body + "\n" + SEPARATOR + "\n" + "\n".join(lines) + "\n"


def _stuffed(line: str) -> str:
    return " " + line if line.startswith((" ", ">", "From ")) else line


def _transfer_encoding(data: bytes, current: str) -> str:
    """Keep base64 and quoted-printable; plain octets stay plain while SMTP can carry them."""
    if current in ("base64", "quoted-printable"):
        return current
    short = all(len(line) <= MAX_LINE for line in data.splitlines())
    if short and data.isascii():
        return "7bit"
    if short and current in ("8bit", "binary"):
        return "8bit"  # the author's MTA sent 8-bit octets; the smarthost takes them too
    return "quoted-printable"


def _set_body(part: Message, data: bytes, cte: str) -> None:
    """Replace the part's body with the octets, in the given transfer encoding."""
    if cte == "base64":
        payload = base64.encodebytes(data).decode("ascii")
    elif cte == "quoted-printable":
        payload = quopri.encodestring(data).decode("ascii")
    else:  # raw octets are kept as surrogate escapes, as the parser keeps them
        payload = data.decode("ascii", "surrogateescape")
    part.set_payload(payload)
    del part["Content-Transfer-Encoding"]
    part["Content-Transfer-Encoding"] = cte


def _footer_part(footer: str, message: Message) -> EmailMessage:
    """The footer as an inline text/plain part in UTF-8."""
    data = _joined("", footer, flowed=False).lstrip("\n").encode("utf-8")
    part = EmailMessage(policy=message.policy)
    part["Content-Type"] = 'text/plain; charset="utf-8"'
    part["Content-Disposition"] = "inline"
    _set_body(part, data, _transfer_encoding(data, "7bit"))
    return part


def _wrap_mixed(message: EmailMessage, footer: EmailMessage) -> None:
    """Make the message multipart/mixed: its old content first, then the footer part."""
    inner = copy.deepcopy(message)  # keeps the payload exactly, 8-bit octets included
    fields = list(message.raw_items())
    set_fields(inner, [(name, value) for name, value in fields if _is_content(name)])
    set_fields(message, [(name, value) for name, value in fields if not _is_content(name)])
    message.preamble = message.epilogue = None  # they belong to the inner part now
    message["Content-Type"] = "multipart/mixed"
    message.set_payload([inner, footer])


def _is_content(name: str) -> bool:
    return name.lower().startswith("content-")


def _has_long_line(part: Message) -> bool:
    """Whether the body, as it will be written, has a line over MAX_LINE octets."""
    cte = header_text(part, "Content-Transfer-Encoding").lower()
    if cte in ("", "7bit", "8bit", "binary"):
        data = part.get_payload(decode=True)  # undecoded octets for these encodings
    else:
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else b""
    return isinstance(data, bytes) and any(len(line) > MAX_LINE for line in data.splitlines())


def _wrap_ignored_text(part: Message) -> None:
    """Break long lines in a preamble or epilogue, which readers ignore (RFC 2046 5.1.1)."""
    for name in ("preamble", "epilogue"):
        text = getattr(part, name)
        if isinstance(text, str) and any(len(line) > MAX_LINE for line in text.splitlines()):
            lines = _NEWLINE.split(text)
            setattr(part, name, "\n".join(
                line[start:start + 76] for line in lines for start in range(0, len(line) or 1, 76)))
