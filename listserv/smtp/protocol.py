# SPDX-License-Identifier: Apache-2.0
"""aiosmtpd's SMTP and LMTP sessions, answering in listserv's words where aiosmtpd answers
by itself, before or without the handler's hooks.

aiosmtpd's own replies to an oversized message and to an address its parser
refuses carry no enhanced status code (RFC 3463) or the wrong one, and it
takes a path whose closing ">" is missing. The message after DATA is read a
block at a time (listserv.smtp.data), not a line at a time. This module must
not judge addresses or messages beyond that: the handler does.
"""

from typing import AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, syntax

from listserv.core.addresses import unclosed_path
from listserv.smtp.data import TOO_BIG, MessageData
from listserv.smtp.handler import BAD_SYNTAX, each_recipient

# The most one read takes: more than a StreamReader ever holds (it stops reading past twice
# its limit, 1,001 octets here, plus one receive of at most 256 KB), so a read empties it.
BLOCK = 1024 * 1024
UNCLOSED_PATH = '501 5.5.2 Syntax error: "<" without its closing ">"'
BAD_SENDER_SYNTAX = "553 5.1.7 Bad sender address syntax"

# aiosmtpd 1.4's own replies (aiosmtpd/smtp.py), word for word.
_DECLARED_TOO_BIG = "552 Error: message size exceeds fixed maximum message size"  # SIZE=
_MALFORMED = "553 5.1.3 Error: malformed address"  # at MAIL and RCPT alike


class Session(SMTP):
    """One SMTP connection."""

    _malformed = BAD_SYNTAX  # the reply to an address aiosmtpd cannot parse, by command

    async def smtp_MAIL(self, arg: str | None) -> None:
        if unclosed_path(arg, "FROM:"):
            await self.push(UNCLOSED_PATH)
            return
        self._malformed = BAD_SENDER_SYNTAX
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if unclosed_path(arg, "TO:"):
            await self.push(UNCLOSED_PATH)
            return
        self._malformed = BAD_SYNTAX
        await super().smtp_RCPT(arg)

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            await super().push(self._reworded(status))
        else:
            await super().push(status)

    def _reworded(self, status: str) -> str:
        if status == _DECLARED_TOO_BIG:
            return TOO_BIG
        if status == _MALFORMED:
            return self._malformed
        return status

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        message = await self._received_message()
        if message.problem:
            reply = self.after_data(message.problem)
        else:
            self.envelope.content = self.envelope.original_content = message.content()
            status = await self._call_handler_hook("DATA")
            reply = "250 OK" if status is MISSING else status
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push(reply)

    async def _received_message(self) -> MessageData:
        """The message after DATA, read to its end mark; what the client sent on after it goes
        back to the reader, which the last read emptied."""
        message = MessageData(self.data_size_limit)
        while True:
            block = await self._reader.read(BLOCK)
            if not block:
                raise ConnectionResetError("connection closed during DATA")
            pipelined = message.feed(block)
            if pipelined is not None:
                break
        if pipelined:
            self._reader.feed_data(pipelined)
        return message

    def after_data(self, status: str) -> str:
        """The reply to DATA."""
        return status


class LmtpSession(Session, LMTP):
    """One LMTP connection."""

    def after_data(self, status: str) -> str:
        assert self.envelope is not None
        return each_recipient(status, len(self.envelope.rcpt_tos))
