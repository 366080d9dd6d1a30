# SPDX-License-Identifier: Apache-2.0
"""Authentication-Results (RFC 8601) of the site's front MTA: which to trust, what they say.

Only the front MTA's verdicts count, named by its authserv-id. It adds its
Authentication-Results with its Received field, so a header field with that
authserv-id below the second Received field came from elsewhere: whoever
wrote the message put it there to be believed (RFC 8601, section 5). Such
forged fields are never trusted and are removed from list mail. Works on
raw bytes; a header that does not parse says nothing, it never raises.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from listserv.core.message import header_block

AUTHENTICATION_RESULTS = "authentication-results"
_SIGNATURE_FIELDS = ("dkim-signature", "arc-message-signature", "arc-seal")
_SPECIALS = frozenset('()<>,;:\\"/[]?=')
_FIELD_START = re.compile(rb"^(?=[^ \t\r\n])", re.MULTILINE)
_SPACES_AROUND_EQUALS = re.compile(r"\s*=\s*")


class Authenticity(StrEnum):
    """What the front MTA found about the author's domain."""

    PASS = "pass"  # DMARC passed, or a DKIM signature of the domain verified
    FAIL = "fail"  # DMARC failed, or nothing of the domain verified
    UNKNOWN = "unknown"  # the front MTA said nothing about this message


@dataclass(frozen=True, slots=True)
class Result:
    """One method's result: dkim=pass header.d=example.org."""

    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def domain(self, name: str) -> str:
        """The domain a property names (header.d, header.from, header.i), '' if absent."""
        for key, value in self.properties:
            if key == name:
                return value.rpartition("@")[2].lower().rstrip(".")
        return ""


@dataclass(frozen=True, slots=True)
class AuthResults:
    """One Authentication-Results field."""

    authserv_id: str
    results: tuple[Result, ...]


def _head(raw: bytes) -> bytes:
    """The header section with the line ending of its last field."""
    block = header_block(raw)
    rest = raw[len(block):]
    return block + (b"\r\n" if rest.startswith(b"\r\n") else rest[:1])


def header_fields(raw: bytes) -> list[tuple[str, bytes]]:
    """The header fields of raw in order: (lower-case name, the whole field with its folding)."""
    fields = []
    for field in _FIELD_START.split(_head(raw)):
        if field:
            fields.append((field.partition(b":")[0].strip().decode("ascii", "replace").lower(),
                           field))
    return fields


def parse(value: str) -> AuthResults | None:
    """Read one Authentication-Results value; None when it has no authserv-id."""
    parts = _split(_without_comments(value), ";")
    head = parts[0].split()
    if not head:
        return None
    results = []
    for part in parts[1:]:
        tokens = [t for t in _split(_SPACES_AROUND_EQUALS.sub("=", part), " ") if t]
        method, equals, result = tokens[0].partition("=") if tokens else ("", "", "")
        if not method or not equals or not result:
            continue  # "none", or a result that does not parse
        properties = tuple((name.lower(), text.strip('"')) for name, sep, text in
                           (token.partition("=") for token in tokens[1:]) if sep)
        results.append(Result(method.partition("/")[0].lower(), result.lower(), properties))
    return AuthResults(head[0].strip('"').lower(), tuple(results))


def trusted(raw: bytes, authserv_id: str) -> list[AuthResults]:
    """The Authentication-Results the front MTA named authserv_id added to raw."""
    fields = header_fields(raw)
    found = []
    for index in range(_trusted_end(fields)):
        name, field = fields[index]
        if name == AUTHENTICATION_RESULTS:
            results = parse(_value(field))
            if results is not None and results.authserv_id == authserv_id.lower():
                found.append(results)
    return found


def without_forged(raw: bytes, authserv_id: str) -> bytes:
    """raw without the Authentication-Results fields that claim authserv_id from elsewhere."""
    fields = header_fields(raw)
    return _without(raw, fields, authserv_id, _trusted_end(fields))


def without_results(raw: bytes, authserv_id: str) -> bytes:
    """raw without any Authentication-Results field of authserv_id."""
    return _without(raw, header_fields(raw), authserv_id, 0)


def results_of(raw: bytes, authserv_id: str) -> bytes:
    """raw's Authentication-Results fields of authserv_id, as written."""
    return b"".join(field for name, field in header_fields(raw)
                    if name == AUTHENTICATION_RESULTS and _id_of(field) == authserv_id.lower())


def _without(raw: bytes, fields: Sequence[tuple[str, bytes]], authserv_id: str,
             start: int) -> bytes:
    removed = {index for index in range(start, len(fields))
               if fields[index][0] == AUTHENTICATION_RESULTS
               and _id_of(fields[index][1]) == authserv_id.lower()}
    if not removed:
        return raw
    kept = b"".join(field for index, (_, field) in enumerate(fields) if index not in removed)
    return kept + raw[len(_head(raw)):]


def compose(authserv_id: str, results: Sequence[Result]) -> str:
    """An Authentication-Results value: 'id; dkim=pass header.d=example.org; arc=none'."""
    parts = [authserv_id]
    for result in results:
        properties = "".join(f" {name}={_quoted(value)}" for name, value in result.properties)
        parts.append(f"{result.method}={result.result}{properties}")
    return "; ".join(parts) if results else f"{authserv_id}; none"


def _quoted(value: str) -> str:
    """A property value as written, or quoted where it is not a token or address (RFC 8601)."""
    if value and not any(char in _SPECIALS or char.isspace() or not char.isprintable()
                         for char in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Signature:
    """Who a DKIM-Signature or ARC-Message-Signature/ARC-Seal says signed: d=, s=, b=."""

    field: str  # lower-case field name
    domain: str
    selector: str
    b: str

    @property
    def key_name(self) -> str:
        """Where its public key is published."""
        return f"{self.selector}._domainkey.{self.domain}"


def signatures(raw: bytes) -> list[Signature]:
    """The signatures in raw's header, in order, each with its d= and s= where readable."""
    found = []
    for name, field in header_fields(raw):
        if name in _SIGNATURE_FIELDS:
            tags = dict(part.partition("=")[::2] for part in
                        "".join(_value(field).split()).split(";") if "=" in part)
            found.append(Signature(name, tags.get("d", "").lower().rstrip("."),
                                   tags.get("s", ""), tags.get("b", "")))
    return found


def author_verdict(results: Sequence[AuthResults], author_domain: str) -> Authenticity:
    """Whether the front MTA's results authenticate author_domain (DMARC, else aligned DKIM)."""
    if not results:
        return Authenticity.UNKNOWN
    domain = author_domain.lower().rstrip(".")
    found = [result for field in results for result in field.results]
    for result in found:
        if result.method == "dmarc" and result.domain("header.from") in ("", domain):
            return Authenticity.PASS if result.result == "pass" else Authenticity.FAIL
    if any(result.method == "dkim" and result.result == "pass"
           and _aligned(result.domain("header.d") or result.domain("header.i"), domain)
           for result in found):
        return Authenticity.PASS
    return Authenticity.FAIL


def _aligned(signer: str, domain: str) -> bool:
    """DKIM relaxed alignment, without the public suffix list: the same domain or a parent
    of at least two labels (example.org signs for lists.example.org)."""
    return bool(domain) and (signer == domain or (
        signer.count(".") >= 1 and domain.endswith("." + signer)))


def _trusted_end(fields: Sequence[tuple[str, bytes]]) -> int:
    """Index of the second Received field: what lies below came with the message."""
    received = [index for index, (name, _) in enumerate(fields) if name == "received"]
    return received[1] if len(received) > 1 else len(fields)


def _value(field: bytes) -> str:
    return " ".join(field.partition(b":")[2].decode("utf-8", "replace").split())


def _id_of(field: bytes) -> str:
    results = parse(_value(field))
    return results.authserv_id if results is not None else ""


def _without_comments(text: str) -> str:
    """text without (comments), which may nest; quoted strings are kept whole."""
    kept: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"' and not depth:
            quoted = not quoted
        elif char == "(" and not quoted:
            depth += 1
            continue
        elif char == ")" and not quoted and depth:
            depth -= 1
            continue
        if not depth:
            kept.append(char)
    return "".join(kept)


def _split(text: str, separator: str) -> list[str]:
    """text split at separator outside quoted strings (whitespace for ' ')."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if not quoted and (char == separator or (separator == " " and char.isspace())):
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts
