# SPDX-License-Identifier: Apache-2.0
"""The message after DATA taken a block at a time gives what aiosmtpd's line-at-a-time
reading gave, however the blocks fall (#14.2)."""

import pytest

from listserv.smtp.data import LINE_TOO_LONG, LONGEST_LINE, TOO_BIG, MessageData

TAIL = b"QUIT\r\n"


def line_at_a_time(wire: bytes) -> bytes:
    """aiosmtpd 1.4's reading: lines to the lone dot, a leading dot dropped from each."""
    taken = []
    for line in wire.split(b"\r\n")[:-1]:
        if line == b".":
            break
        taken.append(line[1:] if line.startswith(b".") else line)
    return b"".join(line + b"\r\n" for line in taken)


WIRES = [
    b".\r\n",  # an empty message
    b"Subject: a\r\n\r\nbody\r\n.\r\n",
    b"Subject: dots\r\n\r\n..leading dot\r\n...two\r\n. \r\n..\r\n.\r\n",
    b"Subject: bare\r\n\r\nbare\nline feed and\rcarriage return\r\n\r\n\r\n.\r\n",
    b"\r\n\r\n.x\r\n.\r\n",
]


@pytest.mark.parametrize("wire", WIRES)
def test_every_split_into_two_blocks_gives_the_lines_aiosmtpd_gave(wire: bytes) -> None:
    stream = wire + TAIL
    for cut in range(1, len(stream)):
        message = MessageData(None)
        assert message.feed(stream[:cut]) is None or cut >= len(wire)
        rest = message.feed(stream[cut:]) if cut < len(wire) else b""
        assert (message.content(), message.problem) == (line_at_a_time(wire), "")
        if cut < len(wire):
            assert rest == TAIL


@pytest.mark.parametrize("wire", WIRES)
def test_an_octet_at_a_time_gives_the_same_and_what_followed(wire: bytes) -> None:
    message = MessageData(None)
    stream = wire + TAIL
    at = 0
    while message.feed(stream[at:at + 1]) is None:
        at += 1
    assert (message.content(), stream[at + 1:]) == (line_at_a_time(wire), TAIL)


@pytest.mark.parametrize(("length", "problem"), [(LONGEST_LINE, ""),
                                                 (LONGEST_LINE + 1, LINE_TOO_LONG)])
@pytest.mark.parametrize("block", [7, 1000, 1 << 20])
def test_a_line_over_999_octets_is_refused_wherever_the_blocks_fall(
        length: int, problem: str, block: int) -> None:
    wire = b"Subject: long\r\n\r\n" + b"x" * length + b"\r\nend\r\n.\r\n"
    message = MessageData(None)
    for start in range(0, len(wire), block):
        message.feed(wire[start:start + block])
    assert message.problem == problem


def test_a_line_too_long_is_known_before_its_end_arrives() -> None:
    message = MessageData(None)
    assert message.feed(b"Subject: long\r\n\r\n" + b"x" * (LONGEST_LINE + 1)) is None
    assert message.problem == LINE_TOO_LONG
    assert message.feed(b"x" * 100_000 + b"\r\n.\r\n") == b""  # read on to the end mark


@pytest.mark.parametrize(("size", "problem"), [(100, ""), (101, TOO_BIG)])
def test_the_size_limit_counts_the_message_as_sent_without_the_end_mark(
        size: int, problem: str) -> None:
    body = b"x" * (size - 2) + b"\r\n"
    message = MessageData(100)
    for start in range(0, len(body), 10):
        message.feed(body[start:start + 10])
    assert message.feed(b".\r\n") == b""
    assert message.problem == problem


@pytest.mark.parametrize(("limit", "line", "problem"), [(None, 1000, LINE_TOO_LONG),
                                                        (100, 500, TOO_BIG)])
def test_what_follows_a_refused_message_in_its_last_block_is_given_back(
        limit: int | None, line: int, problem: str) -> None:
    message = MessageData(limit)
    assert message.feed(b"x" * line + b"\r\n.\r\n" + TAIL) == TAIL
    assert message.problem == problem
