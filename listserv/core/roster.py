# SPDX-License-Identifier: Apache-2.0
"""Reading and writing member rosters: one address per line, or CSV ``name,address``.

A roster comes as UTF-8 or not at all (decode_roster). A CSV cell that a
spreadsheet would run as a formula (OWASP, "CSV Injection": one starting
with = + - @, a tab or a carriage return) is written with a single quote
before it, and read back without: see escape_cell.
"""

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from listserv.core.addresses import Mailbox, parse_mailbox
from listserv.core.list_settings import MEMBER_SETTINGS, parse_values
from listserv.errors import InvalidAddress, ListservError, SettingError

HEADER = ("name", "address")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def decode_roster(data: bytes) -> list[str]:
    """The roster's lines, as a file opened with universal newlines reads them.

    Raises ListservError naming the first line that is not UTF-8: a guess at
    its encoding would store names and addresses nobody wrote.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = _lines(data[:exc.start].decode("utf-8"))
        line = len(before) + (not before or before[-1].endswith(("\n", "\r")))
        raise ListservError(f"line {line} is not UTF-8 text; nothing was imported "
                            "(save the file as UTF-8)") from None
    return _lines(text)


def _lines(text: str) -> list[str]:
    return io.StringIO(text, newline="").readlines()


def escape_cell(text: str) -> str:
    """A cell as written to CSV: with a single quote before it where a spreadsheet would read
    a formula, and before one that starts with quotes and then that, so that read_roster can
    tell the quotes it must take off from those of the value (unescape_cell)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def unescape_cell(text: str) -> str:
    """A CSV cell as escape_cell wrote it, back as it was."""
    return text[1:] if text.startswith("'") and escape_cell(text[1:]) == text else text


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
        return unescape_cell(fields[0].strip()), unescape_cell(fields[1].strip())
    return "", text  # reported as an invalid address below


def write_roster(rows: Iterable[tuple[str, str]]) -> str:
    """Write ``(name, address)`` rows as CSV with a header, readable by read_roster."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows((escape_cell(name), escape_cell(address)) for name, address in rows)
    return buffer.getvalue()
