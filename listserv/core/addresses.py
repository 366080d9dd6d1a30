# SPDX-License-Identifier: Apache-2.0
"""Mailbox addresses: validation, the match key, and the list's sub-addresses.

Matching rule (documented in the README): an address matches another when both
are equal after the domain is lower-cased and IDNA-encoded *and* the local part
is put in Unicode NFC and lower-cased. RFC 5321 lets a host treat local parts case-sensitively, but
no mail system in use does, and a member who writes ``Alice@`` one day and
``alice@`` the next is one person. Sub-addresses (``alice+lists@``) are not
folded: they are distinct mailboxes to every MTA that delivers them.

Stored and shown form (RFC 6530): a parsed address keeps its local part as written,
in NFC, and its domain lower-cased in U-labels, so ``jürgen@xn--mller-kva.example``
from an MTA is ``jürgen@müller.example``, the same member. The match key keeps the
domain in A-labels: ASCII wherever the local part is.
"""

import functools
import re
import unicodedata
from dataclasses import dataclass
from email.utils import parseaddr
from enum import StrEnum

from listserv.errors import InvalidAddress

# RFC 5322 atext, plus UTF-8 (RFC 6531); never a control character (NUL least of all:
# no database keeps it in text).
_ATOM = r"[^\s\"(),.:;<>@\[\\\]\x00-\x1f\x7f]+"
_DOT_ATOM = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_QUOTED = re.compile(r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[^\x00-\x08\x0a-\x1f\x7f])*"')
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_LOCAL = 64
_MAX_ADDRESS = 254


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A valid address split into its parts, as the user wrote it."""

    local_part: str
    domain: str

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def key(self) -> str:
        """The normalised form two addresses are compared by."""
        return f"{_fold_local(self.local_part)}@{ascii_domain(self.domain)}"


@functools.lru_cache(maxsize=4096)  # rosters repeat their domains: an import of a million
def ascii_domain(domain: str) -> str:
    """Lower-case a domain and encode it as IDNA (raises InvalidAddress)."""
    try:
        encoded = domain.strip().rstrip(".").lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidAddress(f"invalid domain: {domain!r}") from None
    labels = encoded.split(".")
    if len(labels) < 2 or labels[-1].isdigit() or len(encoded) > 253:
        raise InvalidAddress(f"invalid domain: {domain!r}")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidAddress(f"invalid domain: {domain!r}")
    return encoded


def unicode_domain(domain: str) -> str:
    """A valid domain lower-cased in U-labels, as people read it (raises InvalidAddress)."""
    return ascii_domain(domain).encode("ascii").decode("idna")


def shown(address: str) -> str:
    """An address as people read it: its domain in U-labels; what does not parse as given."""
    try:
        return str(parse_address(address))
    except InvalidAddress:
        return address


def smtp_form(address: str) -> str:
    """The address as SMTP carries it without SMTPUTF8 where it can: an internationalised
    domain in A-labels (RFC 5890). A non-ASCII local part stays: only SMTPUTF8 (RFC 6531)
    carries it. What does not parse is returned as given."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{ascii_domain(domain)}"
    except InvalidAddress:
        return address


def needs_smtputf8(address: str) -> bool:
    """Whether only an SMTPUTF8 transaction (RFC 6531) can carry the address."""
    return not address.isascii() and not smtp_form(address).isascii()


class Unreadable(StrEnum):
    """Why an address from the SMTP dialogue cannot be read at all."""

    NUL = "contains a NUL byte"
    NOT_UTF8 = "is not valid UTF-8"


def unreadable(text: str) -> Unreadable | None:
    """Why the text cannot be an address whatever its syntax, or None.

    aiosmtpd keeps octets that are not UTF-8 as lone surrogates; no database
    column takes them, nor NUL (PostgreSQL refuses it in text).
    """
    if "\x00" in text:
        return Unreadable.NUL
    if not text.isascii() and any("\ud800" <= char <= "\udfff" for char in text):
        return Unreadable.NOT_UTF8  # the isascii() test first: an import checks a million
    return None


def is_postmaster(address: str) -> bool:
    """Whether the address is postmaster@ some domain or the bare <Postmaster> (RFC 5321
    4.5.1 and 4.1.1.3: a case-insensitive local part)."""
    local, _, _ = address.rpartition("@")
    return (local or address).lower() == "postmaster"


def unclosed_path(argument: str | None, keyword: str) -> bool:
    """Whether a MAIL FROM or RCPT TO argument opens its path with "<" and never closes it.

    RFC 5321 4.1.2: a path is "<" mailbox ">". aiosmtpd takes the "<" alone
    (the email package's parser only notes the defect).
    """
    if not argument or argument[:len(keyword)].upper() != keyword:
        return False
    path = argument[len(keyword):].lstrip()
    return path.startswith("<") and ">" not in path


def _fold_local(local_part: str) -> str:
    """Unquote a quoted local part where quoting changes nothing, then lower-case."""
    if local_part.startswith('"'):
        inner = re.sub(r"\\(.)", r"\1", local_part[1:-1])
        if _DOT_ATOM.fullmatch(inner):
            local_part = inner
    return local_part.lower()


def parse_address(text: str, max_local: int = _MAX_LOCAL) -> Mailbox:
    """Validate a bare address such as ``alice@example.org``.

    Our own VERP bounce addresses may have a longer local part than RFC 5321's
    64 octets (every MTA in use accepts them); split_recipient allows that.
    """
    text = text.strip()
    local_part, at, domain = text.rpartition("@")
    if not at or not local_part or not domain:
        raise InvalidAddress(f"not an address: {text!r}")
    if not (_DOT_ATOM.fullmatch(local_part) or _QUOTED.fullmatch(local_part)):
        raise InvalidAddress(f"invalid local part in {text!r}")
    if unreadable(text):
        raise InvalidAddress(f"not an address: {text!r}")
    if len(local_part.encode()) > max_local or len(text.encode()) > _MAX_ADDRESS:
        raise InvalidAddress(f"address too long: {text!r}")
    # NFC (RFC 6532 section 3.1): one spelling for what a keyboard writes in two.
    return Mailbox(unicodedata.normalize("NFC", local_part), unicode_domain(domain))


def parse_mailbox(text: str) -> tuple[str, Mailbox]:
    """Parse ``Alice Example <alice@example.org>`` or a bare address into (name, mailbox)."""
    if "<" in text:
        name, address = parseaddr(text)
        if not address:
            raise InvalidAddress(f"not an address: {text.strip()!r}")
        return name, parse_address(address)
    return "", parse_address(text)


def normalise(address: str) -> str:
    """Return the match key of an address (raises InvalidAddress)."""
    return parse_address(address).key


class Destination(StrEnum):
    """What mail to one of a list's addresses is for (the README's table of addresses)."""

    POST = "post"
    REQUEST = "request"
    OWNER = "owner"
    BOUNCES = "bounces"
    CONFIRM = "confirm"
    JOIN = "join"
    LEAVE = "leave"


# Suffix of the local part -> destination. -bounces and -confirm take a "+extension".
SUFFIXES: dict[str, Destination] = {
    "-request": Destination.REQUEST,
    "-owner": Destination.OWNER,
    "-bounces": Destination.BOUNCES,
    "-confirm": Destination.CONFIRM,
    "-join": Destination.JOIN,
    "-subscribe": Destination.JOIN,
    "-leave": Destination.LEAVE,
    "-unsubscribe": Destination.LEAVE,
}
_EXTENSIBLE = {Destination.BOUNCES, Destination.CONFIRM}


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient address split into the list it belongs to and its purpose."""

    list_key: str
    destination: Destination
    extension: str = ""


def split_recipient(address: str) -> Recipient | None:
    """Split ``ops-confirm+TOKEN@example.com`` into list key, destination and extension.

    Returns None for an address that cannot belong to any list. Whether the
    list exists is the caller's question.
    """
    try:
        mailbox = parse_address(address, max_local=_MAX_ADDRESS)
    except InvalidAddress:
        return None
    domain = ascii_domain(mailbox.domain)
    local = _fold_local(mailbox.local_part)
    base, plus, _ = local.partition("+")
    extension = mailbox.local_part.partition("+")[2]  # tokens and VERP keep their case
    for suffix, destination in SUFFIXES.items():
        if base.endswith(suffix) and len(base) > len(suffix):
            if plus and destination not in _EXTENSIBLE:
                return None
            return Recipient(f"{base.removesuffix(suffix)}@{domain}", destination, extension)
    if plus:
        return None
    return Recipient(f"{local}@{domain}", Destination.POST)


def sub_address(list_address: str, suffix: str) -> str:
    """The list's address with a suffix: sub_address("ops@example.com", "-owner")."""
    local, _, domain = list_address.partition("@")
    return f"{local}{suffix}@{domain}"


def check_list_address(address: str) -> Mailbox:
    """Validate an address for a new list: no '+', no reserved suffix."""
    mailbox = parse_address(address)
    local = _fold_local(mailbox.local_part)
    if "+" in local or local.startswith('"'):
        raise InvalidAddress(f"a list address cannot be quoted or contain '+': {address!r}")
    for suffix in SUFFIXES:
        if local.endswith(suffix):
            raise InvalidAddress(f"a list address cannot end in {suffix!r}: {address!r}")
    return mailbox
