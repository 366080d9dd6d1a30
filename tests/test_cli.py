# SPDX-License-Identifier: Apache-2.0
"""The admin CLI, run in-process with main() and, where the operator's view matters,
as the installed console script."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from listserv.cli import main
from listserv.db.members import IMPORT_CHUNK
from tests.helpers import LISTSERV, run_listserv

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``listserv ARGS`` in-process; return (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def members_of(cli: Cli, address: str) -> list[dict[str, object]]:
    code, out, _ = cli("members", "list", address, "--json")
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


def test_the_operator_story_from_the_readme(cli_env: dict[str, str]) -> None:
    assert run_listserv("lists", "create", "ops@example.com", "--name",
                        "Operations Excellence", env=cli_env).returncode == 0
    assert run_listserv("members", "add", "ops@example.com", "alice@example.org",
                        env=cli_env).returncode == 0
    listed = run_listserv("members", "list", "ops@example.com", "--json", env=cli_env)
    [alice] = json.loads(listed.stdout)
    assert alice == {"address": "alice@example.org", "display_name": "", "role": "member",
                     "delivery_mode": "regular", "delivery_status": "enabled",
                     "moderated": False, "receive_own_posts": True,
                     "skip_if_addressed": False, "bounce_score": 0.0,
                     "created_at": alice["created_at"]}


@pytest.mark.parametrize(("args", "message"), [
    (["members", "add", "nope@example.com", "bob@example.org"], "no such list: nope@example.com"),
    (["members", "add", "ops@example.com", "ALICE@Example.org"], "already a member"),
    (["members", "add", "ops@example.com", "alice"], "not an address: 'alice'"),
    (["lists", "set", "ops@example.com", "colour=red"], "unknown setting 'colour'"),
    (["lists", "set", "ops@example.com", "replyto=list"],
     "unknown setting 'replyto'; did you mean reply_to"),
    (["lists", "set", "ops@example.com", "reply_to=explicit"],
     "reply_to=explicit needs a reply_to_address"),
    (["lists", "set", "ops@example.com", "max_recipients=many"], "expected a whole number"),
    (["members", "set", "ops@example.com", "alice@example.org", "role=king"],
     "expected one of member|moderator|owner"),
    (["members", "remove", "ops@example.com", "zed@example.org"], "is not a member"),
    (["lists", "create", "ops@example.com"], "already has the address"),
    (["lists", "create", "ops-request@example.com"], "cannot end in '-request'"),
    (["lists", "create", "ops@elsewhere.org"], "not in a served domain"),
    (["lists", "frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(cli: Cli, cli_env: dict[str, str],
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  args: list[str], message: str) -> None:
    monkeypatch.setenv("LISTSERV_DOMAINS", "example.com")
    assert cli("lists", "create", "ops@example.com")[0] == 0
    assert cli("members", "add", "ops@example.com", "alice@example.org")[0] == 0
    code, _, err = cli(*args)
    assert code != 0
    assert message in err
    assert err.startswith("listserv: error: ")
    assert len(err.splitlines()) == 1


def test_errors_have_no_traceback_when_run_as_a_command(cli_env: dict[str, str]) -> None:
    result = run_listserv("members", "add", "nope@example.com", "x@example.org", env=cli_env)
    assert result.returncode == 1
    assert result.stderr == "listserv: error: no such list: nope@example.com\n"


def test_create_with_owner_and_show_settings_as_json(cli: Cli) -> None:
    assert cli("lists", "create", "ops@example.com", "--name", "Operations Excellence",
               "--owner", "Mona <mona@example.org>")[0] == 0
    _, out, _ = cli("lists", "show", "ops@example.com", "--json")
    shown = json.loads(out)
    assert shown["settings"]["display_name"] == "Operations Excellence"
    assert shown["settings"]["subject_prefix"] == "[ops]"
    assert shown["settings"]["nonmember_action"] == "hold"
    assert shown["settings"]["moderator_password"] == "unset"
    [owner] = members_of(cli, "ops@example.com")
    assert (owner["address"], owner["role"], owner["display_name"]) == (
        "mona@example.org", "owner", "Mona")
    _code, out, _ = cli("lists", "list", "--json")
    assert [entry["address"] for entry in json.loads(out)] == ["ops@example.com"]


def test_set_changes_list_settings_and_hides_the_password(cli: Cli) -> None:
    cli("lists", "create", "ops@example.com")
    code, _, _ = cli("lists", "set", "ops@example.com", "nonmember_action=reject",
                     "max_recipients=20", "moderator_password=s3cret-pass")
    assert code == 0
    code, out, _ = cli("lists", "show", "ops@example.com", "--json")
    settings = json.loads(out)["settings"]
    assert (settings["nonmember_action"], settings["max_recipients"]) == ("reject", 20)
    assert settings["moderator_password"] == "set"
    assert "s3cret-pass" not in out


def test_members_set_and_remove(cli: Cli) -> None:
    cli("lists", "create", "ops@example.com")
    cli("members", "add", "ops@example.com", "Alice@Example.org", "bob@example.org")
    assert cli("members", "set", "ops@example.com", "alice@example.org",
               "delivery_mode=digest-mime", "role=moderator", "moderated=true",
               "delivery_status=disabled-by-moderator")[0] == 0
    alice = members_of(cli, "ops@example.com")[0]
    assert alice["address"] == "Alice@example.org"
    assert (alice["delivery_mode"], alice["role"], alice["moderated"],
            alice["delivery_status"]) == ("digest-mime", "moderator", True,
                                          "disabled-by-moderator")
    assert cli("members", "remove", "ops@example.com", "ALICE@example.org")[0] == 0
    assert [m["address"] for m in members_of(cli, "ops@example.com")] == ["bob@example.org"]


def test_adding_several_members_is_all_or_nothing(cli: Cli) -> None:
    cli("lists", "create", "ops@example.com")
    cli("members", "add", "ops@example.com", "bob@example.org")
    code, _, _ = cli("members", "add", "ops@example.com", "carol@example.org", "BOB@example.org")
    assert code == 1
    assert [m["address"] for m in members_of(cli, "ops@example.com")] == ["bob@example.org"]


def test_rename_keeps_the_old_address_as_alias(cli: Cli) -> None:
    cli("lists", "create", "ops@example.com")
    cli("members", "add", "ops@example.com", "alice@example.org")
    assert cli("lists", "rename", "ops@example.com", "opex@example.com")[0] == 0
    _code, out, _ = cli("lists", "show", "ops@example.com", "--json")
    shown = json.loads(out)
    assert shown["address"] == "opex@example.com"
    assert shown["aliases"] == ["ops@example.com"]
    assert shown["settings"]["subject_prefix"] == "[opex]"
    assert shown["settings"]["list_id"] == "ops.example.com"  # members' filters keep working
    assert [m["address"] for m in members_of(cli, "opex@example.com")] == ["alice@example.org"]
    assert cli("lists", "create", "ops@example.com")[0] == 1


def test_rename_moves_an_archive_url_that_names_the_old_address(cli: Cli) -> None:
    cli("lists", "create", "ops@example.com")
    cli("lists", "create", "crew@example.com")
    cli("lists", "set", "ops@example.com",
        "archive_url=https://lists.example.com/lists/ops@example.com/")
    cli("lists", "set", "crew@example.com", "archive_url=https://archive.example.com/crew/")
    assert cli("lists", "rename", "ops@example.com", "opex@example.com")[0] == 0
    assert cli("lists", "rename", "crew@example.com", "team@example.com")[0] == 0
    shown = json.loads(cli("lists", "show", "opex@example.com", "--json")[1])
    assert shown["settings"]["archive_url"] == "https://lists.example.com/lists/opex@example.com/"
    kept = json.loads(cli("lists", "show", "team@example.com", "--json")[1])
    assert kept["settings"]["archive_url"] == "https://archive.example.com/crew/"


def test_delete_removes_list_and_members(cli: Cli) -> None:
    cli("lists", "create", "ops@example.com")
    cli("members", "add", "ops@example.com", "alice@example.org")
    assert cli("lists", "delete", "ops@example.com")[0] == 0
    assert cli("members", "list", "ops@example.com")[0] == 1
    assert json.loads(cli("lists", "list", "--json")[1]) == []


def test_import_reports_bad_lines_and_skips_existing(cli: Cli, tmp_path: Path) -> None:
    cli("lists", "create", "ops@example.com")
    cli("members", "add", "ops@example.com", "alice@example.org")
    roster = tmp_path / "roster.csv"
    roster.write_text("name,address\nALICE@example.org\n\"Bob, Jr.\",bob@example.org\n"
                      "not-an-address\ncarol@example.org\ncarol@EXAMPLE.org\n")
    code, out, err = cli("members", "import", "ops@example.com", str(roster))
    assert code == 1
    assert "line 4: not an address: 'not-an-address'" in err
    assert "imported 2 members" in out
    assert [m["address"] for m in members_of(cli, "ops@example.com")] == [
        "alice@example.org", "bob@example.org", "carol@example.org"]


def test_an_import_of_several_chunks_adds_every_member_once_with_its_defaults(
        cli: Cli, tmp_path: Path) -> None:
    cli("lists", "create", "ops@example.com")
    cli("members", "add", "ops@example.com", f"m{IMPORT_CHUNK}@example.org")
    count = 2 * IMPORT_CHUNK + 10
    roster = tmp_path / "roster.txt"
    roster.write_text("".join(f'"M {n}",m{n}@example.org\n' for n in range(count)))
    code, out, _ = cli("members", "import", "ops@example.com", str(roster))
    assert (code, out) == (0, f"imported {count - 1} members into ops@example.com; "
                              "1 already members; 0 invalid lines\n")
    members = members_of(cli, "ops@example.com")
    assert sorted(m["address"] for m in members) == sorted(
        f"m{n}@example.org" for n in range(count))
    last = next(m for m in members if m["address"] == f"m{count - 1}@example.org")
    assert (last["display_name"], last["role"], last["delivery_mode"]) == (
        f"M {count - 1}", "member", "regular")


def test_export_then_import_round_trips(cli: Cli, tmp_path: Path) -> None:
    cli("lists", "create", "ops@example.com")
    cli("lists", "create", "copy@example.com")
    cli("members", "add", "ops@example.com", "Bob, Jr. <bob@example.org>", "alice@example.org")
    exported = tmp_path / "members.csv"
    assert cli("members", "export", "ops@example.com", str(exported))[0] == 0
    assert cli("members", "import", "copy@example.com", str(exported))[0] == 0
    originals = [(m["address"], m["display_name"]) for m in members_of(cli, "ops@example.com")]
    copies = [(m["address"], m["display_name"]) for m in members_of(cli, "copy@example.com")]
    assert copies == originals


def test_db_upgrade_reports_state(cli: Cli) -> None:
    code, out, _ = cli("db", "upgrade")
    assert (code, out) == (0, "database is up to date\n")


@pytest.mark.parametrize("args", [["lists", "set", "ops@example.com", "emergency"],
                                  ["members", "set", "ops@example.com", "a@example.org", "x"]])
def test_a_setting_without_a_value_is_a_usage_error(cli: Cli, args: list[str]) -> None:
    code, _, err = cli(*args)
    assert code == 2
    assert "expected KEY=VALUE, got" in err and len(err.splitlines()) == 1


def test_an_explicit_reply_to_with_its_address_is_taken_in_one_go(cli: Cli) -> None:
    assert cli("lists", "create", "ops@example.com")[0] == 0
    assert cli("lists", "set", "ops@example.com", "reply_to=explicit",
               "reply_to_address=desk@example.com")[0] == 0


def test_a_reader_that_goes_away_gets_no_traceback(cli_env: dict[str, str]) -> None:
    for number in range(3):
        assert run_listserv("lists", "create", f"list{number}@example.com",
                            env=cli_env).returncode == 0
    with subprocess.Popen([LISTSERV, "lists", "list", "--json"], env=cli_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as reader:
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.close()  # as `| head -0` does, before listserv writes
        errors = reader.stderr.read().decode()
        assert reader.wait(timeout=60) == 1
    assert errors == ""
@pytest.mark.parametrize(("setting", "value", "pattern"), [
    ("header_matches", '[{"header": "Subject", "pattern": "(re:)\\\\1", "action": "hold"}]',
     "'(re:)\\\\1'"),
    ("ban_list", "^(?!alice@).*@example\\.org$", "'^(?!alice@).*@example\\\\.org$'"),
])
def test_set_refuses_a_pattern_re2_cannot_take(cli_env: dict[str, str], setting: str,
                                               value: str, pattern: str) -> None:
    assert run_listserv("lists", "create", "ops@example.com", env=cli_env).returncode == 0
    result = run_listserv("lists", "set", "ops@example.com", f"{setting}={value}", env=cli_env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"listserv: error: {setting}: bad regular expression "
                                    f"{pattern}: ")
    assert "RE2 has no backreferences or look-around" in result.stderr
    shown = json.loads(run_listserv("lists", "show", "ops@example.com", "--json",
                                    env=cli_env).stdout)
    assert shown["settings"][setting] == []


def test_api_tokens_are_made_listed_and_revoked_never_shown_again(cli: Cli) -> None:
    code, token, err = cli("api", "token", "create", "--name", "backup")
    assert code == 0
    assert "API token backup: shown this once" in err
    assert cli("api", "token", "create")[0] == 0  # named token-1
    code, out, _ = cli("api", "token", "list", "--json")
    listed = json.loads(out)
    assert [entry["name"] for entry in listed] == ["backup", "token-1"]
    assert all(set(entry) == {"name", "created_at", "last_used_at"} for entry in listed)
    assert all(entry["last_used_at"] is None for entry in listed)
    code, out, _ = cli("api", "token", "list")
    assert out.splitlines()[0].startswith("backup\tcreated ")
    assert token.strip() not in out
    assert cli("api", "token", "revoke", "backup") == (0, "revoked API token backup\n", "")
    assert [e["name"] for e in json.loads(cli("api", "token", "list", "--json")[1])] == [
        "token-1"]


@pytest.mark.parametrize(("args", "message"), [
    (["create", "--name", "backup"], "an API token named backup exists already"),
    (["create", "--name", "two words"], "a token name is 1 to 64 letters"),
    (["revoke", "nobody"], "no API token named nobody"),
])
def test_api_token_commands_refuse_what_cannot_be_done(cli: Cli, args: list[str],
                                                       message: str) -> None:
    cli("api", "token", "create", "--name", "backup")
    code, _, err = cli("api", "token", *args)
    assert code == 1
    assert message in err


def imported_by(code: str, env: dict[str, str]) -> set[str]:
    """The modules a fresh interpreter has loaded after running code."""
    probe = (f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
             "print(' '.join(sys.modules), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    return set(result.stderr.split())


def test_help_loads_neither_the_database_nor_the_web_framework(cli_env: dict[str, str]) -> None:
    loaded = imported_by("from listserv.cli import main; main(['--help'])", cli_env)
    assert not loaded & {"sqlalchemy", "fastapi", "alembic", "pydantic", "dkim", "aiosmtpd"}


def test_a_short_command_on_a_current_database_leaves_alembic_and_the_server_alone(
        cli_env: dict[str, str]) -> None:
    assert run_listserv("lists", "create", "ops@example.com", env=cli_env).returncode == 0
    loaded = imported_by("from listserv.cli import main; main(['lists', 'list'])", cli_env)
    assert "sqlalchemy" in loaded
    assert not loaded & {"alembic", "fastapi", "uvicorn", "aiosmtpd", "dkim"}
