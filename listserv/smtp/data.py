# SPDX-License-Identifier: Apache-2.0
"""The message after DATA, taken a block at a time as it arrives (RFC 5321 4.5.2).

aiosmtpd reads it a line at a time in Python, about 12 microseconds a line: a
1 MB message of short lines held the event loop 40 ms for every 256 KB that
arrived, and no other client was answered meanwhile (#14.2). Here a block
costs a search for the end mark and a split into lines, both in C. What is
taken is what aiosmtpd took: the same limits and the same bytes.
"""

END = b"\r\n.\r\n"  # a line holding a lone dot ends the message
LONGEST_LINE = 999  # octets before its CRLF, as aiosmtpd took them (RFC 5321: 998)
LINE_TOO_LONG = "500 5.6.0 Line too long (RFC 5321 4.5.3.1.6)"
TOO_BIG = "552 5.3.4 Message too big for system"


class MessageData:
    """A message arriving after DATA: feed() it each block until it gives back what followed
    the end mark, then content() or problem."""

    def __init__(self, size_limit: int | None) -> None:
        self.size_limit = size_limit
        self.problem = ""  # the reply refusing the message, once there is one
        # With a CRLF in front the first line ends and unstuffs like any other.
        self._received = bytearray(b"\r\n")
        self._checked = len(self._received)  # the lines before this offset are within limits

    def feed(self, block: bytes) -> bytes | None:
        """Take the next block; once the end mark has come, what followed it (pipelined
        commands, often b""), else None."""
        search_from = max(len(self._received) - len(END) + 1, 0)  # the mark may straddle blocks
        self._received += block
        end = self._received.find(END, search_from)
        if end < 0:
            # A partial end mark at the tail is no content yet: ".\r" of the last 3 octets.
            self._judge(len(self._received), known_size=len(self._received) - 3)
            return None
        rest = bytes(self._received[end + len(END):])
        del self._received[end + 2:]  # before judging: a refusal trims what is kept
        self._judge(end + 2, known_size=end + 2)
        return rest

    def content(self) -> bytes:
        """The message without its end mark, dots unstuffed (RFC 5321 4.5.2)."""
        return bytes(self._received).replace(b"\r\n.", b"\r\n")[2:]

    def _judge(self, complete: int, known_size: int) -> None:
        """Check the lines up to complete (an offset), and the size, at least known_size."""
        if self.problem:
            del self._received[:-len(END)]  # only the end mark is still looked for
            return
        if self.size_limit and known_size - 2 > self.size_limit:
            self._refuse(TOO_BIG)
            return
        lines = self._received[self._checked:complete].split(b"\r\n")
        arriving = lines.pop()  # the line still arriving (empty after a CRLF)
        if max(map(len, lines), default=0) > LONGEST_LINE or len(arriving) > LONGEST_LINE:
            self._refuse(LINE_TOO_LONG)
            return
        self._checked = complete - len(arriving)

    def _refuse(self, problem: str) -> None:
        self.problem = problem
        del self._received[:-len(END)]
