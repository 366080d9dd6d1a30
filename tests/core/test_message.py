# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.message import message_id


@pytest.mark.parametrize(("raw", "expected"), [
    (b"Message-ID: <a@b>\r\nSubject: x\r\n\r\nbody", "<a@b>"),
    (b"Message-Id:\r\n <folded@b>\n\nbody", "<folded@b>"),
    (b"Subject: none\r\n\r\nMessage-ID: <in-body@b>", ""),
    (b"\x00\xff garbage without headers", ""),
    (b"", ""),
])
def test_message_id_is_read_without_trusting_the_message(raw: bytes, expected: str) -> None:
    assert message_id(raw) == expected
