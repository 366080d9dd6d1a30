# SPDX-License-Identifier: Apache-2.0
"""Hand messages to the smarthost over SMTP; the only module that imports aiosmtplib.

send() never raises for anything the smarthost or the network does: every
recipient gets a DeliveryResult with an SMTP code and the stage that decided
it, and the exceptions of aiosmtplib and the network are translated in one
place (_translated). A session is kept open between transactions and
reopened when it breaks. Addresses go out in A-labels where that spares
SMTPUTF8; those that need it are sent only where the smarthost offers it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import aiosmtplib

from listserv.core.addresses import needs_smtputf8, smtp_form
from listserv.core.refusals import UNOFFERED_CODE, UNOFFERED_TEXT, Stage
from listserv.outbound.pipelining import Session
from listserv.settings import Settings

log = logging.getLogger(__name__)

# Codes for failures that never reached an SMTP reply (RFC 3463 classes).
NETWORK_FAILURE = 421  # connection refused, dropped or timed out: try again later
SMTP_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    recipient: str
    code: int
    text: str
    stage: Stage = Stage.RCPT  # which reply decided it: only RCPT's is about the recipient

    @property
    def delivered(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


class _Failed(Exception):
    """Every recipient of the transaction failed with one code."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code, self.text = code, text


@contextmanager
def _translated() -> Iterator[None]:
    """Map aiosmtplib's and the network's exceptions onto one SMTP code for all."""
    try:
        yield
    except aiosmtplib.SMTPResponseException as exc:
        raise _Failed(exc.code, exc.message) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise _Failed(NETWORK_FAILURE, f"{type(exc).__name__}: {exc}") from exc


class Smarthost:
    """One session with the smarthost, reused for many transactions.

    aiosmtplib opens it (greeting, EHLO, STARTTLS, AUTH); the transactions
    then run pipelined on the same connection (listserv.outbound.pipelining).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: Session | None = None

    async def _connected(self) -> Session:
        if self._session is not None and self._session.is_open:
            return self._session
        settings = self._settings
        host, port = settings.smarthost
        client = aiosmtplib.SMTP(
            hostname=host, port=port, timeout=SMTP_TIMEOUT, local_hostname=settings.hostname,
            use_tls=settings.smarthost_tls == "tls",
            start_tls=settings.smarthost_tls == "starttls",
            cert_bundle=str(settings.smarthost_ca_file) if settings.smarthost_ca_file else None)
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if settings.smarthost_username and settings.smarthost_password:
            await client.login(settings.smarthost_username,
                               settings.smarthost_password.get_secret_value())
        assert isinstance(client.transport, asyncio.Transport)
        self._session = Session(client.transport, timeout=SMTP_TIMEOUT,
                                pipelining=client.supports_extension("pipelining"),
                                size=client.supports_extension("size"),
                                eight_bit=client.supports_extension("8bitmime"),
                                smtputf8=client.supports_extension("smtputf8"))
        return self._session

    async def send(self, mail_from: str, recipients: Sequence[str], raw: bytes,
                   before_end: Awaitable[None] | None = None) -> list[DeliveryResult]:
        """One SMTP transaction; a result for every recipient. The end of DATA waits for
        before_end, and if that fails, the message is not sent."""
        try:
            with _translated():
                session = await self._connected()
                offered = _offerable(mail_from, recipients, session.smtputf8)
                replies = await session.transaction(
                    smtp_form(mail_from), [smtp_form(r) for r in offered], raw, before_end) \
                    if offered else []
        except _Failed as failure:
            if failure.code == NETWORK_FAILURE:
                await self.close()
            log.warning("smarthost transaction from <%s> failed for %d recipients: %d %s",
                        mail_from, len(recipients), failure.code, failure.text)
            return [DeliveryResult(r, failure.code, failure.text, Stage.MESSAGE)
                    for r in recipients]
        results = {recipient: DeliveryResult(recipient, reply.code, reply.text, stage)
                   for recipient, (reply, stage) in zip(offered, replies, strict=True)}
        if len(offered) < len(recipients):
            log.warning("smarthost does not offer SMTPUTF8: %d recipients of <%s> not sent",
                        len(recipients) - len(offered), mail_from)
        return [results.get(recipient) or DeliveryResult(
            recipient, UNOFFERED_CODE, UNOFFERED_TEXT, Stage.UNOFFERED)
            for recipient in recipients]

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.quit()


def _offerable(mail_from: str, recipients: Sequence[str], smtputf8: bool) -> list[str]:
    """The recipients the smarthost can be offered: all where it takes SMTPUTF8, else those
    whose address (and the sender's) needs no SMTPUTF8."""
    if smtputf8:
        return list(recipients)
    if needs_smtputf8(mail_from):
        return []
    return [recipient for recipient in recipients if not needs_smtputf8(recipient)]
