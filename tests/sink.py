# SPDX-License-Identifier: Apache-2.0
"""A recording SMTP server standing in for the smarthost, with failures on demand.

Recipients whose local part starts with ``tempfail`` get 451, ``reject`` get
550, and ``drop`` has the connection closed at RCPT (as aiosmtplib's tests
inject faults). ``fail_all`` makes every RCPT answer 451, as a smarthost
having trouble would. ``data_fault`` answers DATA for the messages it picks
(a content filter); those are kept in ``refused``. ``start_sink(smtputf8=…)``
offers SMTPUTF8 (RFC 6531) or, as aiosmtpd does by default, refuses it.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.smtp import SMTP


@dataclass
class Delivered:
    mail_from: str
    recipients: list[str]
    raw: bytes
    smtputf8: bool = False  # MAIL FROM carried SMTPUTF8

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, _class=EmailMessage, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Sink:
    port: int = 0
    delivered: list[Delivered] = field(default_factory=list)
    fail_all: bool = False
    pipelining: bool = True  # advertise RFC 2920 PIPELINING (aiosmtpd reads pipelined input)
    data_fault: Callable[[EmailMessage], str | None] | None = None  # DATA's reply, None: 250
    refused: list[Delivered] = field(default_factory=list)  # messages data_fault refused

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        local = address.split("@")[0].lower()
        if self.fail_all or local.startswith("tempfail"):
            return "451 4.3.0 Try again later"
        if local.startswith("reject"):
            return "550 5.1.1 No such user"
        if local.startswith("drop"):
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        delivered = Delivered(envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.original_content, envelope.smtp_utf8)
        if self.data_fault is not None and (reply := self.data_fault(delivered.message)):
            self.refused.append(delivered)
            return reply
        self.delivered.append(delivered)
        return "250 2.0.0 Queued"

    def recipients(self) -> list[str]:
        return [r for delivered in self.delivered for r in delivered.recipients]

    def to(self, recipient: str) -> list[Delivered]:
        return [d for d in self.delivered if recipient in d.recipients]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)


async def start_sink(*, pipelining: bool = True,
                     smtputf8: bool = False) -> tuple[Sink, asyncio.Server]:
    sink = Sink(pipelining=pipelining)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="sink.test", enable_SMTPUTF8=smtputf8), "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    return sink, server
