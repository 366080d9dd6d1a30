# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.roster import (
    RosterEntry,
    RosterError,
    decode_roster,
    escape_cell,
    read_roster,
    roster_entry,
    split_roster,
    unescape_cell,
    write_roster,
)
from listserv.errors import ListservError


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


@pytest.mark.parametrize(("cell", "written"), [
    ('=HYPERLINK("http://evil.test")', '\'=HYPERLINK("http://evil.test")'),
    ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("'=kept", "''=kept"), ("''@x", "'''@x"),  # quotes of the value itself stay
    ("Alice", "Alice"), ("'quoted'", "'quoted'"), ("'", "'"), ("", ""), ("a=b", "a=b"),
])
def test_a_cell_a_spreadsheet_would_run_is_quoted_and_reads_back_as_it_was(
        cell: str, written: str) -> None:
    assert escape_cell(cell) == written
    assert unescape_cell(written) == cell


def test_a_roster_with_formula_cells_reads_back_the_same() -> None:
    rows = [("=cmd|' /C calc'!A0", "-x@example.org"), ("'@home", "alice@example.org")]
    text = write_roster(rows)
    assert "\n'=cmd|' /C calc'!A0,'-x@example.org\n" in text
    assert [(r.name, str(r.mailbox)) for r in read_roster(text.splitlines())
            if isinstance(r, RosterEntry)] == rows


@pytest.mark.parametrize(("data", "line"), [
    (b"\xe9mile@example.org\n", 1),
    (b'a@example.org\nb@example.org\n"Ren\xe9",r@example.org\n', 3),
    (b"a@example.org\r\nb@example.org\r\n\xff\r\n", 3),
    (b"a@example.org\rb@example.org\r\xff", 3),
    (b"a@example.org\nRen\xc3", 2),  # cut in the middle of a character
])
def test_a_roster_that_is_not_utf8_is_refused_with_its_first_bad_line(data: bytes,
                                                                        line: int) -> None:
    with pytest.raises(ListservError, match=f"^line {line} is not UTF-8 text; nothing was"):
        decode_roster(data)


def test_a_utf8_roster_is_read_as_a_file_reads_it() -> None:
    assert decode_roster("\ufeffRené,r@example.org\r\nb@x.org\rc@x.org".encode()) == [
        "\ufeffRené,r@example.org\r\n", "b@x.org\r", "c@x.org"]
