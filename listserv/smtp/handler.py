# SPDX-License-Identifier: Apache-2.0
"""The SMTP/LMTP dialogue: refuse what no list takes, store the rest, then answer.

RCPT TO is checked here (docs/ARCHITECTURE.md: refuse early, no backscatter); DATA is
stored through the intake writer and answered 250 only after the commit.
This module must not run the pipeline or judge content.
"""

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from listserv.core.addresses import (
    Destination,
    Unreadable,
    ascii_domain,
    is_postmaster,
    parse_address,
    split_recipient,
    unreadable,
)
from listserv.core.headers import HeaderLimits, HeaderProblem, header_section_problem
from listserv.core.message import derived_message_id, message_id
from listserv.db.engine import Sessions
from listserv.db.lists import find_list_id, served_domain
from listserv.errors import InvalidAddress
from listserv.metrics import Metrics
from listserv.smtp.intake import Received

log = logging.getLogger(__name__)

RECIPIENT_OK = "250 2.1.5 Recipient ok"
STORED = "250 2.0.0 Message accepted"
SENDER_OK = "250 2.1.0 Sender ok"
SENDER_TOO_LONG = "553 5.1.7 Sender address too long"
# RFC 5321 4.2.2: 553 "mailbox name not allowed (e.g., mailbox syntax incorrect)".
BAD_SYNTAX = "553 5.1.3 Bad recipient address syntax"
NO_SUCH_LIST = "550 5.1.1 No such list here"
RELAY_DENIED = "550 5.7.1 Relaying denied: this server only takes mail for its lists"
STORE_FAILED = "451 4.3.0 Could not store the message; please try again later"
HEADER_TOO_BIG = "552 5.3.4 Message header section too big"
TOO_MANY_ADDRESSES = "554 5.6.0 Too many addresses in the message header"
NUL_IN_MESSAGE_ID = "554 5.6.0 Message-ID contains a NUL byte"
MESSAGE_ID_NOT_UTF8 = "554 5.6.0 Message-ID is not valid UTF-8"
HEADER_REFUSALS = {HeaderProblem.TOO_BIG: HEADER_TOO_BIG,
                   HeaderProblem.TOO_MANY_ADDRESSES: TOO_MANY_ADDRESSES,
                   HeaderProblem.NUL_IN_MESSAGE_ID: NUL_IN_MESSAGE_ID,
                   HeaderProblem.MESSAGE_ID_NOT_UTF8: MESSAGE_ID_NOT_UTF8}
# Permanent: an address that is no text at all never becomes one on a retry.
UNREADABLE_SENDER = {reason: f"553 5.1.7 Sender address {reason}" for reason in Unreadable}
UNREADABLE_RECIPIENT = {reason: f"553 5.1.3 Recipient address {reason}"
                        for reason in Unreadable}

MAX_PATH = 256
NO_LIMITS = HeaderLimits()

Store = Callable[[Sequence[Received]], Awaitable[None]]
# Where a recipient's mail goes: the list (by id, so an alias is the list), the
# sub-address and its extension; or the site's postmaster. One transaction is one
# message: one row each.
Target = tuple[int, Destination, str] | Literal["postmaster"]


class ListservHandler:
    """aiosmtpd handler for the SMTP and LMTP listeners."""

    def __init__(self, sessions: Sessions, domains: Sequence[str], store: Store,
                 *, lmtp: bool = False, limits: HeaderLimits = NO_LIMITS,
                 hostname: str = "listserv.invalid", metrics: Metrics | None = None,
                 postmaster: bool = False) -> None:
        self._sessions = sessions
        self._postmaster = postmaster  # whether postmaster@ is taken (LISTSERV_POSTMASTER)
        self._metrics = metrics
        self._domains = frozenset(domains)
        self._store = store
        self._lmtp = lmtp
        self._limits = limits
        self._hostname = hostname  # of the Message-IDs given to messages without one
        self.in_flight = 0  # DATA transactions being stored right now
        # The target of each RCPT the envelope holds, in order (per transaction).
        self._targets: weakref.WeakKeyDictionary[Any, list[Target]] = \
            weakref.WeakKeyDictionary()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if reason := unreadable(address):
            log.info("refused MAIL FROM from %s: the address %s", _peer(session), reason)
            return UNREADABLE_SENDER[reason]
        # RFC 5321 4.5.3.1.3: a path is at most 256 octets. A longer one would
        # not fit the inbound row, and the sender would get 451s for ever.
        if len(address.encode()) > MAX_PATH:
            log.info("refused MAIL FROM of %d octets from %s", len(address.encode()),
                     _peer(session))
            return SENDER_TOO_LONG
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return SENDER_OK

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        verdict, target = await self._recipient(address)
        if target is None:
            log.info("refused RCPT TO:<%s> from %s: %s", address, _peer(session), verdict)
            return verdict
        # A repeated recipient (the list again, by an alias, in other letter case) is
        # accepted, as RFC 5321 allows, but its mail is stored once (#14.3); it still
        # counts for the replies LMTP owes after DATA.
        envelope.rcpt_tos.append(address)
        self._targets.setdefault(envelope, []).append(target)
        return verdict

    async def check_recipient(self, address: str) -> str:
        """The reply RCPT TO gets for this address."""
        return (await self._recipient(address))[0]

    async def _recipient(self, address: str) -> tuple[str, Target | None]:
        """The reply RCPT TO gets, and where an accepted recipient's mail goes."""
        if reason := unreadable(address):
            return UNREADABLE_RECIPIENT[reason], None
        if self._postmaster and address.lower() == "postmaster":  # RFC 5321 4.1.1.3
            return RECIPIENT_OK, "postmaster"
        try:
            domain = ascii_domain(parse_address(address).domain)
        except InvalidAddress:
            return BAD_SYNTAX, None
        recipient = split_recipient(address)
        async with self._sessions() as session:
            if recipient is not None and (
                    list_id := await find_list_id(session, recipient.list_key)):
                return RECIPIENT_OK, (list_id, recipient.destination, recipient.extension)
            if domain in self._domains or await served_domain(session, domain):
                if self._postmaster and is_postmaster(address):
                    return RECIPIENT_OK, "postmaster"
                return NO_SUCH_LIST, None
        return RELAY_DENIED, None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content
        accepted = len(envelope.rcpt_tos)
        problem = header_section_problem(raw, self._limits)
        if problem is not None:
            # Refused, not stored: no mail program writes such headers (#14.2).
            log.info("refused a message from <%s> at %s: %s", envelope.mail_from,
                     _peer(session), problem)
            return self._reply(HEADER_REFUSALS[problem], accepted)
        peer, mid = _peer(session), message_id(raw)
        if not mid:
            # Duplicate detection goes by Message-ID: give the message one, the same
            # each time the same message arrives.
            mid = derived_message_id(raw, self._hostname)
            raw = f"Message-ID: {mid}\r\n".encode("ascii") + raw
        # aiosmtpd hands the null sender on as "<>"; stored, it is "" (as bounces have it).
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        messages = [Received(rcpt, mail_from, mid, raw, peer)
                    for rcpt in self._once_each(envelope)]
        self.in_flight += 1
        try:
            await self._store(messages)
        except Exception:
            log.exception("%s from %s: storing failed; answered 451", mid, peer)
            return self._reply(STORE_FAILED, accepted)
        finally:
            self.in_flight -= 1
        if self._metrics is not None:
            self._metrics.received.inc(len(messages))
        log.info("%s stored: from <%s> to %s, %d bytes", mid, envelope.mail_from,
                 ", ".join(message.recipient for message in messages), len(raw))
        return self._reply(STORED, accepted)

    def _once_each(self, envelope: Any) -> list[str]:
        """The envelope's recipients, the first for each target only."""
        targets = self._targets.pop(envelope, [])
        if len(targets) != len(envelope.rcpt_tos):  # recipients the hook did not see
            return list(envelope.rcpt_tos)
        seen: set[Target] = set()
        once = []
        for rcpt, target in zip(envelope.rcpt_tos, targets, strict=True):
            if target not in seen:
                seen.add(target)
                once.append(rcpt)
        return once

    def _reply(self, status: str, recipients: int) -> str:
        return each_recipient(status, recipients) if self._lmtp else status

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would answer an unexpected error with a permanent 500, and the
        # sending MTA would bounce mail we only failed to take.
        if isinstance(error, asyncio.CancelledError):
            raise error
        log.error("SMTP session error: %r", error, exc_info=error)
        return STORE_FAILED


def each_recipient(status: str, recipients: int) -> str:
    """The LMTP answer to DATA: RFC 2033 wants one reply per accepted recipient."""
    return "\r\n".join([status] * recipients)


def _peer(session: Any) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) else str(peer or "")
