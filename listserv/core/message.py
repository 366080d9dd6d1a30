# SPDX-License-Identifier: Apache-2.0
"""Reading raw messages without trusting them."""

import re
from email.parser import BytesHeaderParser
from email.policy import compat32

_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")


def header_block(raw: bytes) -> bytes:
    """The raw header section of a message (everything before the first empty line)."""
    match = _END_OF_HEADERS.search(raw)
    return raw[: match.start()] if match else raw


def message_id(raw: bytes) -> str:
    """The Message-ID as written, or '' when there is none; never raises."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    value = headers.get("Message-ID", "")
    return " ".join(str(value).split())
