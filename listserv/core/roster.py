# SPDX-License-Identifier: Apache-2.0
"""Reading and writing member rosters: one address per line, or CSV ``name,address``."""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from listserv.core.addresses import Mailbox, parse_mailbox
from listserv.core.list_settings import MEMBER_SETTINGS, parse_values
from listserv.errors import InvalidAddress, SettingError

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
        yield roster_entry(number, name, address)


def roster_entry(number: int, name: str, address: str) -> RosterEntry | RosterError:
    """One entry: the address (``Name <address>`` allowed) with the name given, if any."""
    try:
        parsed_name, mailbox = parse_mailbox(address)
        values = parse_values([("display_name", name or parsed_name)], MEMBER_SETTINGS)
    except (InvalidAddress, SettingError) as exc:
        return RosterError(number, str(exc))
    return RosterEntry(number, values["display_name"], mailbox)


Roster = tuple[list[RosterEntry], list[RosterError]]


def split_roster(results: Iterable[RosterEntry | RosterError]) -> Roster:
    """The entries to import, and the errors to report."""
    entries: list[RosterEntry] = []
    errors: list[RosterError] = []
    for result in results:
        if isinstance(result, RosterEntry):
            entries.append(result)
        else:
            errors.append(result)
    return entries, errors


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
