# SPDX-License-Identifier: Apache-2.0
from listserv.core.roster import (
    RosterEntry,
    RosterError,
    read_roster,
    roster_entry,
    split_roster,
    write_roster,
)


def test_plain_and_csv_lines_are_read_and_bad_lines_reported_by_number() -> None:
    lines = [
        "name,address",
        "alice@example.org",
        '"Bob, Jr.",bob@example.org',
        "",
        "# a comment",
        "not-an-address",
        "Carol Example <carol@example.org>",
        "too,many,fields",
    ]
    results = list(read_roster(lines))
    assert [(r.line, r.name, str(r.mailbox)) for r in results if isinstance(r, RosterEntry)] == [
        (2, "", "alice@example.org"), (3, "Bob, Jr.", "bob@example.org"),
        (7, "Carol Example", "carol@example.org")]
    assert [r.line for r in results if isinstance(r, RosterError)] == [6, 8]


def test_written_roster_reads_back_the_same() -> None:
    rows = [("Bob, Jr.", "bob@example.org"), ("", "alice@example.org"), ('Q "x"', "q@example.org")]
    lines = write_roster(rows).splitlines()
    entries = [r for r in read_roster(lines) if isinstance(r, RosterEntry)]
    assert [(e.name, str(e.mailbox)) for e in entries] == rows


def test_names_are_checked_as_members_set_checks_them() -> None:
    entries, errors = split_roster([
        roster_entry(1, "", "Alice <alice@example.org>"),
        roster_entry(2, "x" * 201, "bob@example.org"),
        roster_entry(3, "Ca\x00rol", "carol@example.org"),
        roster_entry(4, "Dan", "nobody")])
    assert [(entry.line, entry.name) for entry in entries] == [(1, "Alice")]
    assert [(error.line, error.message) for error in errors] == [
        (2, "display_name: longer than 200 characters"),
        (3, "display_name: contains a NUL character or a lone surrogate, which no database "
            "stores as text"),
        (4, "not an address: 'nobody'")]
