# SPDX-License-Identifier: Apache-2.0
"""Hand messages to the smarthost over SMTP; the only module that imports aiosmtplib.

send() never raises for anything the smarthost or the network does: every
recipient gets a DeliveryResult with an SMTP code, and aiosmtplib's
exceptions are translated in one place (_translated). A connection is kept
open between transactions and reopened when it breaks.
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import aiosmtplib

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
    except aiosmtplib.SMTPRecipientsRefused:
        raise  # per-recipient answers: the caller reads them
    except aiosmtplib.SMTPResponseException as exc:
        raise _Failed(exc.code, exc.message) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise _Failed(NETWORK_FAILURE, f"{type(exc).__name__}: {exc}") from exc


class Smarthost:
    """One connection to the smarthost, reused for many transactions."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        settings = self._settings
        host, port = settings.smarthost
        client = aiosmtplib.SMTP(
            hostname=host, port=port, timeout=SMTP_TIMEOUT, local_hostname=settings.hostname,
            use_tls=settings.smarthost_tls == "tls",
            start_tls=settings.smarthost_tls == "starttls",
            cert_bundle=str(settings.smarthost_ca_file) if settings.smarthost_ca_file else None)
        await client.connect()
        if settings.smarthost_username and settings.smarthost_password:
            await client.login(settings.smarthost_username,
                               settings.smarthost_password.get_secret_value())
        self._client = client
        return client

    async def send(self, mail_from: str, recipients: Sequence[str],
                   raw: bytes) -> list[DeliveryResult]:
        """One SMTP transaction; a result for every recipient."""
        try:
            with _translated():
                client = await self._connected()
                refused, reply = await client.sendmail(mail_from, list(recipients), raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return [DeliveryResult(e.recipient, e.code, e.message) for e in exc.recipients]
        except _Failed as failure:
            if failure.code == NETWORK_FAILURE:
                await self.close()
            log.warning("smarthost transaction from <%s> failed for %d recipients: %d %s",
                        mail_from, len(recipients), failure.code, failure.text)
            return [DeliveryResult(r, failure.code, failure.text) for r in recipients]
        return [DeliveryResult(r, refused[r].code, refused[r].message) if r in refused
                else DeliveryResult(r, 250, reply) for r in recipients]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                with _translated():
                    await client.quit()
            except _Failed:
                client.close()
