# SPDX-License-Identifier: Apache-2.0
"""DKIM-Signature fields (RFC 6376) made from a message's bytes, relaxed/relaxed.

Every personal copy of a post is signed on its own, and dkimpy would parse the
whole message, canonicalise the whole body and parse the key again for each.
Here the body's hash is a value of its own (body_hash), which the caller
computes once for all the copies that share a body, and a signature
canonicalises only the header fields it covers. The key operation comes in as
a function of the SHA-256 digest of the signed data (RSASSA-PKCS1-v1_5 or
Ed25519, RFC 8463), so this module stays pure. Canonicalisation follows
dkimpy's, which the tests verify every signature with.
"""

import base64
import hashlib
import re
from collections.abc import Callable, Sequence

SignDigest = Callable[[bytes], bytes]  # the SHA-256 digest of the signed data -> signature

FIELD_NAME = b"DKIM-Signature"
FOLD_AT = 76  # a line of the field, CRLF not counted
_WSP = re.compile(rb"[ \t]+")
_LINE_BREAK = re.compile(rb"\r?\n")
_TRAILING_WSP = re.compile(rb"[ \t]+\r\n")
CANONICAL_PIECE = 32 * 1024  # octets of body canonicalised by one call


def body_hash(body: bytes) -> bytes:
    """The bh= value: base64 of SHA-256 over the relaxed body (RFC 6376 section 3.4.4)."""
    return base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())


def relaxed_body(body: bytes) -> bytes:
    """body in the relaxed canonical form, as dkimpy's Relaxed.canonicalize_body gives it.

    The substitutions run a piece of about CANONICAL_PIECE octets at a time, cut after a line
    end (they work within lines): one call over a whole 1 MB body holds the interpreter
    30-60 ms, and the event loop waits for it that long (#14.2)."""
    pieces = []
    start = 0
    while start < len(body):
        cut = body.find(b"\n", start + CANONICAL_PIECE)
        end = len(body) if cut < 0 else cut + 1
        pieces.append(_WSP.sub(b" ", _TRAILING_WSP.sub(b"\r\n", body[start:end])))
        start = end
    text = b"".join(pieces)
    end = len(text)
    while text.endswith(b"\r\n", 0, end):  # empty lines at the end are ignored
        end -= 2
    text = text + b"\r\n" if end == len(text) else text[:end + 2]
    return b"" if text == b"\r\n" else text


def body_of(raw: bytes) -> bytes:
    """The body of raw: what follows the first empty line."""
    end = raw.find(b"\r\n\r\n")
    return raw[end + 4:] if end >= 0 else b""


def signature_field(fields: Sequence[tuple[str, bytes]], *, domain: bytes, selector: bytes,
                    algorithm: bytes, names: Sequence[bytes], bh: bytes, timestamp: int,
                    sign: SignDigest) -> bytes:
    """A DKIM-Signature field (with CRLF) over the message's fields (as
    core.authresults.header_fields gives them) called names and a body whose bh= is given;
    ValueError without From, which a signature must cover (RFC 6376 section 5.4)."""
    if b"from" not in names:
        raise ValueError("the message has no From field to sign")
    tags = [b"v=1", b"a=" + algorithm, b"c=relaxed/relaxed", b"d=" + domain,
            b"i=@" + domain, b"q=dns/txt", b"s=" + selector, b"t=%d" % timestamp,
            b"h=" + b" : ".join(names), b"bh=" + bh, b"b="]
    head = _folded(FIELD_NAME + b": " + b"; ".join(tags))
    data = b"".join(_relaxed(field) for field in _selected(fields, names))
    data += _relaxed(head)[:-2]  # the signature field is hashed without its CRLF
    signature = base64.b64encode(sign(hashlib.sha256(data).digest()))
    return head + _wrapped(signature, len(head) - head.rfind(b"\n") - 1) + b"\r\n"


def _selected(fields: Sequence[tuple[str, bytes]], names: Sequence[bytes]) -> list[bytes]:
    """The fields a signature over names covers: for each name the last instance not yet
    taken, from the bottom up (RFC 6376 section 5.4.2)."""
    taken: dict[bytes, int] = {}
    selected = []
    for name in names:
        index = taken.get(name, len(fields))
        wanted = name.decode("ascii")
        while index > 0:
            index -= 1
            if fields[index][0] == wanted:
                selected.append(fields[index][1])
                break
        taken[name] = index
    return selected


def _relaxed(field: bytes) -> bytes:
    """One header field in relaxed form (RFC 6376 section 3.4.2), CRLF-terminated."""
    name, _, value = field.partition(b":")
    return (name.lower().rstrip() + b":"
            + _WSP.sub(b" ", _LINE_BREAK.sub(b"", value)).strip() + b"\r\n")


def _folded(line: bytes) -> bytes:
    """line folded at spaces so that no line is longer than FOLD_AT where it can be."""
    lines = [b""]
    for word in line.split(b" "):
        if lines[-1] and len(lines[-1]) + 1 + len(word) > FOLD_AT:
            lines.append(b"")
        lines[-1] = lines[-1] + b" " + word if lines[-1] else word
    return b"\r\n ".join(lines)


def _wrapped(signature: bytes, column: int) -> bytes:
    """The b= value, continued on folded lines (the folding white space is not part of it)."""
    first = max(FOLD_AT - column, 0)
    rest = [signature[start:start + FOLD_AT - 1]
            for start in range(first, len(signature), FOLD_AT - 1)]
    return b"\r\n ".join([signature[:first], *rest]) if rest else signature
