# SPDX-License-Identifier: Apache-2.0
"""aiosmtpd's SMTP and LMTP sessions, answering in listserv's words where aiosmtpd answers
by itself, before or without the handler's hooks.

aiosmtpd's own replies to an oversized message and to an address its parser
refuses carry no enhanced status code (RFC 3463) or the wrong one, and it
takes a path whose closing ">" is missing. This module must not judge
addresses or messages beyond that: the handler does.
"""

from typing import AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from listserv.core.addresses import unclosed_path
from listserv.smtp.handler import BAD_SYNTAX, each_recipient

TOO_BIG = "552 5.3.4 Message too big for system"
UNCLOSED_PATH = '501 5.5.2 Syntax error: "<" without its closing ">"'
BAD_SENDER_SYNTAX = "553 5.1.7 Bad sender address syntax"

# aiosmtpd 1.4's own replies (aiosmtpd/smtp.py), word for word.
_DECLARED_TOO_BIG = "552 Error: message size exceeds fixed maximum message size"  # SIZE=
_DATA_TOO_BIG = "552 Error: Too much mail data"
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
        if status == _DATA_TOO_BIG:
            return self.after_data(TOO_BIG)
        if status == _MALFORMED:
            return self._malformed
        return status

    def after_data(self, status: str) -> str:
        """The reply to DATA."""
        return status


class LmtpSession(Session, LMTP):
    """One LMTP connection."""

    def after_data(self, status: str) -> str:
        assert self.envelope is not None
        return each_recipient(status, len(self.envelope.rcpt_tos))
