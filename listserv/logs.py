# SPDX-License-Identifier: Apache-2.0
"""Logging for listserv serve: text or JSON lines, each with the list, message and queue
entry it is about where known.

The loops name what they work on with about(); a filter copies it onto
every record logged meanwhile, so modules log as usual and the JSON format
(LISTSERV_LOG_FORMAT=json, for log collectors) still carries the fields.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

FIELDS = ("list", "message_id", "queue_id")
_ABOUT: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("listserv_log_about", default=())
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every step at INFO speak only at DEBUG: flufl.bounce each of its
# detectors (17 lines a bounce), aiosmtpd each SMTP command (6 lines a message, where
# listserv logs one).
CHATTY = ("flufl.bounce", "mail.log")


@contextmanager
def about(**fields: str) -> Iterator[None]:
    """Name, for the log records made inside the block, what they are about."""
    known = dict(_ABOUT.get()) | {name: value for name, value in fields.items() if value}
    token = _ABOUT.set(tuple(known.items()))
    try:
        yield
    finally:
        _ABOUT.reset(token)


class _About(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _ABOUT.get():
            setattr(record, name, value)
        return True


def configure(level: str, form: Literal["text", "json"]) -> None:
    """Log to stderr, one event per line."""
    handler = logging.StreamHandler()
    handler.addFilter(_About())
    if form == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
