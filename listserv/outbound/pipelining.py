# SPDX-License-Identifier: Apache-2.0
"""SMTP transactions on an established session, pipelined where the server allows.

RFC 2920: with PIPELINING the client sends MAIL, every RCPT and DATA in one
write and then reads the replies in order; a transaction of a hundred
recipients costs one round trip instead of a hundred and two. The session
(greeting, EHLO, STARTTLS, AUTH) is opened by delivery.py with aiosmtplib,
which cannot pipeline; this module takes over its transport for the
transactions. It must not know about lists or the database. Each
recipient's result says which reply decided it (core.refusals.Stage): only
the reply to RCPT is about the recipient.
"""

import asyncio
from collections.abc import Awaitable, Sequence
from typing import NamedTuple

from listserv.core.refusals import Stage

END = b".\r\n"  # after the message's last line: the end of DATA


class Reply(NamedTuple):
    code: int
    text: str

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400


class Session(asyncio.Protocol):
    """The transaction side of an SMTP session whose transport it adopts."""

    def __init__(self, transport: asyncio.Transport, *, pipelining: bool, size: bool,
                 eight_bit: bool, timeout: float, smtputf8: bool = False) -> None:
        self._transport = transport
        self._pipelining = pipelining
        self._size = size  # RFC 1870: declare the size so a too-big message fails at MAIL
        self._eight_bit = eight_bit  # RFC 6152
        self.smtputf8 = smtputf8  # RFC 6531: the server takes non-ASCII addresses
        self._timeout = timeout
        self._buffer = bytearray()
        self._more = asyncio.Event()
        self._body: tuple[bytes, bytes] = (b"", b"")  # the last message and its DATA form
        self._deadline: asyncio.Timeout | None = None
        self._lost: BaseException | None = None
        transport.set_protocol(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._more.set()

    def eof_received(self) -> bool:
        self.connection_lost(None)
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = exc or ConnectionResetError("the smarthost closed the connection")
        self._more.set()

    @property
    def is_open(self) -> bool:
        return self._lost is None and not self._transport.is_closing()

    async def transaction(self, mail_from: str, recipients: Sequence[str], raw: bytes,
                          before_end: Awaitable[None] | None = None
                          ) -> list[tuple[Reply, Stage]]:
        """Send one message; return the reply that decided each recipient's fate, and
        whether it was the reply to their RCPT or one about the message.

        The line that ends the message waits for before_end: until the server has it, the
        server takes nothing (RFC 5321 4.1.1.4). If before_end fails, the connection is
        dropped without it, and the message is not delivered."""
        # Every reply must come within the timeout: one deadline, moved on at each reply
        # (asyncio.wait_for would cost a task per reply).
        try:
            async with asyncio.timeout(None) as self._deadline:
                return await self._transaction(mail_from, recipients, raw, before_end)
        finally:
            self._deadline = None

    async def _transaction(self, mail_from: str, recipients: Sequence[str], raw: bytes,
                           before_end: Awaitable[None] | None) -> list[tuple[Reply, Stage]]:
        mail = b"MAIL FROM:<%s>" % mail_from.encode()
        if self._size:
            mail += b" SIZE=%d" % len(raw)
        if self._eight_bit:
            mail += b" BODY=8BITMIME"
        if not all(address.isascii() for address in (mail_from, *recipients)) or (
                self.smtputf8 and not _header_section(raw).isascii()):
            # RFC 6531; the caller sends UTF-8 addresses only where offered. UTF-8 in the
            # header (RFC 6532) goes as SMTPUTF8 where it can, else as it came (8BITMIME).
            mail += b" SMTPUTF8"
        rcpts = [b"RCPT TO:<%s>" % recipient.encode() for recipient in recipients]
        if self._pipelining:
            self._send(mail, *rcpts, b"DATA")
            replies = await self._replies(len(rcpts) + 2)
            mail_reply, rcpt_replies, data_reply = replies[0], replies[1:-1], replies[-1]
        else:
            mail_reply, rcpt_replies, data_reply = await self._one_by_one(mail, rcpts)
        if data_reply.code == 354:
            data = self._data(raw)
            if before_end is None or _succeeded(before_end):
                self._transport.write(data)  # one write: a system call less than two
            else:
                self._transport.write(memoryview(data)[:-len(END)])
                await self._held_until(before_end)
                self._transport.write(END)
            data_reply = await self._reply()
        elif mail_reply.positive:
            await self._reset()
        return [(mail_reply, Stage.MESSAGE) if not mail_reply.positive else
                (rcpt, Stage.RCPT) if not rcpt.positive else (data_reply, Stage.MESSAGE)
                for rcpt in rcpt_replies]

    async def _one_by_one(self, mail: bytes, rcpts: list[bytes]) -> tuple[Reply, list[Reply],
                                                                             Reply]:
        self._send(mail)
        mail_reply = await self._reply()
        if not mail_reply.positive:
            return mail_reply, [mail_reply] * len(rcpts), mail_reply
        rcpt_replies = []
        for rcpt in rcpts:
            self._send(rcpt)
            rcpt_replies.append(await self._reply())
        if not any(reply.positive for reply in rcpt_replies):
            return mail_reply, rcpt_replies, Reply(554, "no valid recipients")
        self._send(b"DATA")
        return mail_reply, rcpt_replies, await self._reply()

    def _data(self, raw: bytes) -> bytes:
        """The message as DATA sends it, kept for the next transaction of the same message
        (VERP sends one message in a transaction per member)."""
        if self._body[0] is not raw:
            self._body = (raw, _body(raw))
        return self._body[1]

    async def _held_until(self, before_end: Awaitable[None]) -> None:
        assert self._deadline is not None
        self._deadline.reschedule(None)  # no reply is awaited meanwhile
        try:
            await before_end
        except BaseException:
            self._transport.abort()
            raise

    async def _reset(self) -> None:
        self._send(b"RSET")
        await self._reply()

    async def quit(self) -> None:
        """Say goodbye and close; never raises."""
        try:
            if self.is_open:
                self._send(b"QUIT")
                await asyncio.wait_for(self._reply(), 5)
        except (OSError, TimeoutError):
            pass
        finally:
            self._transport.close()

    def _send(self, *commands: bytes) -> None:
        if not self.is_open:
            raise ConnectionResetError("the smarthost connection is closed")
        self._transport.write(b"".join(command + b"\r\n" for command in commands))

    async def _reply(self) -> Reply:
        """The next complete (possibly multi-line) reply; raises when the connection ends."""
        return (await self._replies(1))[0]

    async def _replies(self, count: int) -> list[Reply]:
        """The next count replies. Each must come within the timeout of the one before;
        the deadline moves once for all that arrive together (moving it costs a timer,
        and a hundred pipelined replies come in one read)."""
        replies: list[Reply] = []
        timed_from = -1  # how many replies there were when the deadline last moved
        while True:
            self._take_replies(replies, count)
            if len(replies) == count:
                return replies
            if self._deadline is not None and len(replies) != timed_from:
                self._deadline.reschedule(asyncio.get_running_loop().time() + self._timeout)
                timed_from = len(replies)
            if self._lost is not None:
                raise ConnectionResetError(str(self._lost))
            self._more.clear()
            await self._more.wait()

    def _take_replies(self, replies: list[Reply], count: int) -> None:
        """Move the complete replies in the buffer, up to count in all, into replies."""
        buffer, start, taken, lines = self._buffer, 0, 0, []
        while len(replies) < count and (end := buffer.find(b"\n", start)) != -1:
            line = bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
            lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                replies.append(Reply(int(line[:3]) if line[:3].isdigit() else 500,
                                     "\n".join(lines)))
                taken, lines = start, []
        del buffer[:taken]

def _body(raw: bytes) -> bytes:
    """The message as DATA sends it: CRLF lines, dot-stuffed, ending in CRLF.CRLF.

    This runs on the event loop for every transaction, so it avoids regular expressions
    (16 ms on a 1 MB post against about 2 for bytes.replace) and, by counting first, the
    copies most messages need neither of.
    """
    data = raw if raw.count(b"\n") == raw.count(b"\r\n") else \
        raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b".") or b"\n." in data:  # RFC 5321 4.5.2: dot-stuffing
        data = (b"." if data.startswith(b".") else b"") + data.replace(b"\r\n.", b"\r\n..")
    return data + END


def _succeeded(awaitable: Awaitable[None]) -> bool:
    """Whether awaitable is a future already done without failing (nothing to wait for)."""
    return isinstance(awaitable, asyncio.Future) and awaitable.done() and \
        not awaitable.cancelled() and awaitable.exception() is None


def _header_section(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0]
