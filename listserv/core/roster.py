# SPDX-License-Identifier: Apache-2.0
"""Reading and writing member rosters: one address per line, or CSV ``name,address``."""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from listserv.core.addresses import Mailbox, parse_mailbox
from listserv.errors import InvalidAddress

HEADER = ("name", "address")


@dataclass(frozen=True, slots=True)
class RosterEntry:
    line: int
    name: str
    mailbox: Mailbox


@dataclass(frozen=True, slots=True)
class RosterError:
    line: int
    message: str


def read_roster(lines: Iterable[str]) -> Iterator[RosterEntry | RosterError]:
    """Parse roster lines; blank lines, ``#`` comments and a CSV header are skipped.

    A line with a comma is CSV ``name,address`` (quotes allowed); anything else
    is an address, optionally as ``Name <address>``.
    """
    for number, raw in enumerate(lines, start=1):
        text = raw.strip().lstrip("\ufeff")
        if not text or text.startswith("#"):
            continue
        name, address = _split_line(text)
        if (name.lower(), address.lower()) == HEADER:
            continue
        try:
            parsed_name, mailbox = parse_mailbox(address)
        except InvalidAddress as exc:
            yield RosterError(number, str(exc))
            continue
        yield RosterEntry(number, name or parsed_name, mailbox)


def _split_line(text: str) -> tuple[str, str]:
    if "," not in text or ("<" in text and text.index("<") < text.index(",")):
        return "", text
    fields = next(csv.reader([text], skipinitialspace=True))
    if len(fields) == 2:
        return fields[0].strip(), fields[1].strip()
    return "", text  # reported as an invalid address below


def write_roster(rows: Iterable[tuple[str, str]]) -> str:
    """Write ``(name, address)`` rows as CSV with a header, readable by read_roster."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue()
