# SPDX-License-Identifier: Apache-2.0
"""The SQL archive: numbering, threading, mbox export and import, search, and its CLI."""

import asyncio
import json
import mailbox
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from listserv import archive
from listserv.cli import main
from listserv.db.engine import Sessions, create_engine
from listserv.db.lists import create_list, delete_list, get_list
from listserv.db.models import ArchivedMessage
from listserv.db.search import RANKED_AT_MOST
from listserv.errors import ListservError
from listserv.settings import Settings

DATA = Path(__file__).parent / "data" / "archive"
Cli = Callable[..., tuple[int, str, str]]


def message(mid: str = "<a@example.org>", *, subject: str = "Pump", body: str = "Hi.\r\n",
            headers: str = "", author: str = "Alice Example <alice@example.org>") -> bytes:
    """A post as the pipeline archives it: CRLF line endings."""
    id_header = f"Message-ID: {mid}\r\n" if mid else ""
    return (f"From: {author}\r\nTo: ops@example.com\r\nSubject: {subject}\r\n"
            f"Date: Mon, 03 Jan 2005 10:00:00 +0100\r\n{id_header}{headers}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine, factory = create_engine(Settings(database_url=database_url).async_database_url)
    yield factory
    await engine.dispose()


async def new_list(sessions: Sessions, address: str = "ops@example.com") -> int:
    async with sessions.begin() as session:
        return (await create_list(session, address)).id


async def post(sessions: Sessions, list_id: int, raw: bytes) -> ArchivedMessage:
    async with sessions.begin() as session:
        return await archive.archive_post(session, list_id, raw)


async def rows(sessions: Sessions, list_id: int) -> list[ArchivedMessage]:
    async with sessions() as session:
        return list(await session.scalars(select(ArchivedMessage).where(
            ArchivedMessage.list_id == list_id).order_by(ArchivedMessage.seq)))


async def test_a_post_is_stored_whole_with_its_metadata(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    raw = message("<b@example.org>", subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?= from rig 7",
                  headers="In-Reply-To: <a@example.org>\r\n"
                  "References: <z@x>\r\n <a@example.org>\r\n",
                  body="Pressure is fine.\r\n")
    await post(sessions, ops, raw)
    [row] = await rows(sessions, ops)
    assert row.raw == raw
    assert (row.seq, row.message_id, row.subject) == (1, "<b@example.org>", "Grüße from rig 7")
    assert (row.author_address, row.author_name) == ("alice@example.org", "Alice Example")
    assert row.sent_at == datetime(2005, 1, 3, 9, 0, tzinfo=UTC)
    assert (row.in_reply_to, row.references) == ("<a@example.org>", "<z@x> <a@example.org>")
    assert row.body_text.strip() == "Pressure is fine."
    assert row.thread_id == row.id


async def test_sequence_numbers_count_per_list(sessions: Sessions) -> None:
    ops, dev = await new_list(sessions), await new_list(sessions, "dev@example.com")
    for n, list_id in enumerate([ops, dev, ops, ops, dev]):
        await post(sessions, list_id, message(f"<{n}@example.org>"))
    assert [row.seq for row in await rows(sessions, ops)] == [1, 2, 3]
    assert [row.message_id for row in await rows(sessions, dev)] == ["<1@example.org>",
                                                                     "<4@example.org>"]


async def test_concurrent_writers_get_distinct_numbers(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    await asyncio.gather(*(post(sessions, ops, message(f"<{n}@x>")) for n in range(6)))
    assert sorted(row.seq for row in await rows(sessions, ops)) == [1, 2, 3, 4, 5, 6]


async def test_a_reply_joins_the_thread_even_when_its_parent_is_missing(
        sessions: Sessions) -> None:
    ops = await new_list(sessions)
    root = await post(sessions, ops, message("<a@x>"))
    # <b@x> never reached the archive; <c@x> answers it and names <a@x> in References.
    reply = await post(sessions, ops, message("<c@x>", headers="In-Reply-To: <b@x>\r\n"
                                              "References: <a@x> <b@x>\r\n"))
    answer = await post(sessions, ops, message("<d@x>", headers="In-Reply-To: <c@x>\r\n"))
    assert root.thread_id == root.id
    assert reply.thread_id == answer.thread_id == root.id


async def test_replies_to_unknown_messages_start_new_threads(sessions: Sessions) -> None:
    ops, dev = await new_list(sessions), await new_list(sessions, "dev@example.com")
    elsewhere = await post(sessions, dev, message("<a@x>"))
    orphan = await post(sessions, ops, message("<b@x>", headers="In-Reply-To: <a@x>\r\n"))
    assert elsewhere.thread_id == elsewhere.id  # other lists' messages are not ancestors
    assert orphan.thread_id == orphan.id != elsewhere.id


async def test_repeated_message_ids_are_stored_and_thread_to_the_first(
        sessions: Sessions) -> None:
    ops = await new_list(sessions)
    first = await post(sessions, ops, message("<same@x>", body="one\r\n"))
    second = await post(sessions, ops, message("<same@x>", body="two\r\n"))
    reply = await post(sessions, ops, message("<r@x>", headers="In-Reply-To: <same@x>\r\n"))
    assert (first.seq, second.seq) == (1, 2)
    assert reply.thread_id == first.thread_id


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\xff\xfe garbage without headers or an end",
    b"From: \xff\xfe <\x00@>\r\nSubject: \x00\xe9t\xe9\r\nDate: Feb 30 99999\r\n"
    b"Message-ID: \r\nContent-Type: multipart/mixed; boundary=\"never\"\r\n\r\n\x00body",
    b"Subject: html only\r\nContent-Type: text/html; charset=bogus-charset\r\n\r\n"
    b"<p>caf\xc3\xa9 &amp; \xff</p>",
    b"Content-Transfer-Encoding: base64\r\nSubject: x\r\n\r\n!!!not base64!!!",
])
async def test_malformed_messages_are_archived_as_they_are(sessions: Sessions,
                                                           raw: bytes) -> None:
    ops = await new_list(sessions)
    row = await post(sessions, ops, raw)
    [stored] = await rows(sessions, ops)
    assert stored.raw == raw
    assert row.message_id == archive.generated_message_id(raw)
    assert stored.sent_at is None or stored.sent_at.tzinfo is not None
    assert "\x00" not in stored.subject + stored.body_text + stored.author_address


async def test_html_only_posts_are_searchable_by_their_text(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    raw = (b"From: a@x.org\r\nSubject: s\r\nMessage-ID: <h@x>\r\n"
           b"Content-Type: text/html\r\n\r\n<p>Flare <b>stack</b> &amp; valve</p>\r\n")
    row = await post(sessions, ops, raw)
    assert row.body_text.split() == ["Flare", "stack", "&", "valve"]


async def test_body_text_is_capped(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    row = await post(sessions, ops, message(body="word " * 100_000))
    assert len(row.body_text) == archive.MAX_BODY_TEXT


def mboxrd_unquote(data: bytes) -> bytes:
    return re.sub(rb"(?m)^>(>*From )", rb"\1", data)


async def test_export_writes_an_mbox_that_reads_back_whole(sessions: Sessions,
                                                           tmp_path: Path) -> None:
    ops = await new_list(sessions)
    bodies = ["First.\r\n", "From the rig: all fine.\r\nFrom here on, quiet.\r\n",
              ">From quoted, twice\r\n>>From deeper\r\n", "No newline at the end"]
    raws = [message(f"<{n}@x>", body=body) for n, body in enumerate(bodies)]
    for raw in raws:
        await post(sessions, ops, raw)
    path = tmp_path / "ops.mbox"
    async with sessions() as session:
        assert await archive.export_mbox(session, ops, path) == 4
    box = mailbox.mbox(path)
    assert len(box) == 4
    for raw, key in zip(raws, box.keys(), strict=True):
        read = box.get_bytes(key)
        expected = raw.replace(b"\r\n", b"\n")
        assert mboxrd_unquote(read).rstrip(b"\n") == expected.rstrip(b"\n")
        assert box[key]["Message-ID"] == mailbox.mboxMessage(raw)["Message-ID"]
    assert box[box.keys()[0]].get_from() == "alice@example.org Mon Jan  3 09:00:00 2005"
    box.close()


async def test_export_replaces_the_file_and_an_empty_archive_is_an_empty_mbox(
        sessions: Sessions, tmp_path: Path) -> None:
    ops = await new_list(sessions)
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "ops.mbox"
    path.write_text("old contents\n")
    async with sessions() as session:
        assert await archive.export_mbox(session, ops, path) == 0
    assert path.read_bytes() == b""
    assert [p.name for p in path.parent.iterdir()] == ["ops.mbox"]  # no temporary file left


async def test_export_then_import_restores_the_raw_messages(sessions: Sessions,
                                                            tmp_path: Path) -> None:
    ops, copy = await new_list(sessions), await new_list(sessions, "copy@example.com")
    raws = [message("<a@x>"), message("", body="From nowhere, no id\r\n>From x\r\n"),
            message("<c@x>", headers="References: <a@x>\r\n")]
    for raw in raws:
        await post(sessions, ops, raw)
    path = tmp_path / "ops.mbox"
    async with sessions() as session:
        await archive.export_mbox(session, ops, path)
    async with sessions.begin() as session:
        report = await archive.import_mbox(session, copy, path)
    assert (report.imported, report.duplicates, report.bad) == (3, 0, [])
    originals, copies = await rows(sessions, ops), await rows(sessions, copy)
    assert [row.raw for row in copies] == [raw.replace(b"\r\n", b"\n") for raw in raws]
    # A generated Message-ID depends on the content, not on its line endings.
    assert [row.message_id for row in copies] == [row.message_id for row in originals]
    assert copies[2].thread_id == copies[0].id


async def test_import_of_a_pipermail_export(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    async with sessions.begin() as session:
        report = await archive.import_mbox(session, ops, DATA / "pipermail.mbox")
    assert (report.imported, report.duplicates) == (4, 1)
    assert report.bad == [(5, "no From or Date header; not a mail message")]
    [(index, generated)] = report.generated_ids
    assert index == 4
    pump, reply, valves, latin1 = await rows(sessions, ops)
    assert [row.seq for row in (pump, reply, valves, latin1)] == [1, 2, 3, 4]
    assert (pump.author_address, pump.author_name) == ("alice@example.org", "Alice Example")
    assert b"\nFrom what I hear" in pump.raw  # pipermail's ">From" quoting undone
    assert reply.thread_id == pump.id  # its parent <pump-2@example.org> was never archived
    assert valves.message_id == generated
    assert valves.raw.startswith(b"From: carol at example.org")
    assert latin1.subject == "Gr\ufffd\ufffde vom Bohrturm"
    assert "Schöne Grüße" in latin1.body_text
    assert latin1.sent_at is None

    async with sessions.begin() as session:
        again = await archive.import_mbox(session, ops, DATA / "pipermail.mbox")
    assert (again.imported, again.duplicates, len(again.bad)) == (0, 5, 1)


@pytest.mark.parametrize(("contents", "message"), [
    (b"Subject: a single message\n\nnot an mbox\n", "not an mbox file"),
    (None, "No such file or directory"),
])
async def test_import_refuses_what_is_not_an_mbox(sessions: Sessions, tmp_path: Path,
                                                  contents: bytes | None, message: str) -> None:
    ops = await new_list(sessions)
    path = tmp_path / "file"
    if contents is not None:
        path.write_bytes(contents)
    async with sessions.begin() as session:
        with pytest.raises(ListservError, match=message):
            await archive.import_mbox(session, ops, path)


async def found(sessions: Sessions, list_id: int, query: str) -> list[str]:
    async with sessions() as session:
        return [hit.message_id for hit in await archive.search(session, list_id, query)]


async def test_search_finds_posts_with_every_word_best_first(sessions: Sessions) -> None:
    ops, dev = await new_list(sessions), await new_list(sessions, "dev@example.com")
    await post(sessions, ops, message("<1@x>", subject="Valves", body="The PUMP is fine.\r\n"))
    await post(sessions, ops, message("<2@x>", subject="Pump seals", body="Worn out.\r\n"))
    await post(sessions, ops, message("<3@x>", subject="100% done", body="nothing\r\n"))
    await post(sessions, ops, message("<4@x>", subject="Rig news", body="A pump broke.\r\n"))
    await post(sessions, dev, message("<5@x>", subject="pump elsewhere"))
    await post(sessions, ops, message("<6@x>", subject="Flare", body="stack\r\n"))
    await post(sessions, ops, message("<7@x>", subject="Flare", body="stack\r\n"))
    # A word in the subject counts for more than one in the text.
    assert await found(sessions, ops, "pump") == ["<2@x>", "<4@x>", "<1@x>"]
    assert await found(sessions, ops, "Pump worn") == ["<2@x>"]
    assert await found(sessions, ops, "pump nowhere") == []
    assert await found(sessions, ops, "100%") == ["<3@x>"]
    assert len(await found(sessions, ops, "Alice")) == 6  # the author's name
    assert await found(sessions, ops, "flare stack") == ["<7@x>", "<6@x>"]  # latest first


async def test_words_in_very_many_posts_find_the_latest_first(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    await post(sessions, ops, message("<best@x>", subject="Pump pump pump", body="pump\r\n"))
    async with sessions.begin() as session:  # many posts at once, as an import leaves them
        await session.execute(insert(ArchivedMessage), [
            {"list_id": ops, "seq": seq, "message_id": f"<{seq}@x>", "subject": "Weekly",
             "body_text": f"The pump, week {seq}.", "raw": b"", "thread_id": 1}
            for seq in range(2, RANKED_AT_MOST + 2)])
    async with sessions() as session:
        common = await archive.search(session, ops, "pump", limit=3)
        rare = await archive.search(session, ops, "pump week 7")
    assert (common.matches, common.ranked) == (RANKED_AT_MOST + 1, False)
    assert [hit.seq for hit in common] == [RANKED_AT_MOST + 1, RANKED_AT_MOST, RANKED_AT_MOST - 1]
    assert (rare.matches, rare.ranked, [hit.seq for hit in rare]) == (1, True, [7])


@pytest.mark.parametrize("query", [
    '"pump', 'pump"', "pump AND", "NOT pump", "pump OR seals", "pump*", "(pump", "pump)",
    "subject:pump", "pump NEAR seals", "^pump", "-pump", "pump & | ! <->", "pump:*",
    "'pump'", "p\x00ump pump",
])
async def test_search_takes_any_query_as_plain_words(sessions: Sessions, query: str) -> None:
    ops = await new_list(sessions)
    await post(sessions, ops, message("<1@x>", subject="Pump seals", body="and or not near\r\n"))
    assert await found(sessions, ops, query) in (["<1@x>"], [])


@pytest.mark.parametrize("query", ["", "  ", "_", "%", '""', "* ^ -"])
async def test_a_search_without_a_word_finds_nothing(sessions: Sessions, query: str) -> None:
    ops = await new_list(sessions)
    await post(sessions, ops, message("<1@x>", subject="_ % * ^ -"))
    assert await found(sessions, ops, query) == []


async def test_search_ignores_letter_case_in_any_script(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    await post(sessions, ops, message("<1@x>", subject="ÖLPUMPE Δέλτα", body="Straße\r\n"))
    for query in ("ölpumpe", "δέλτα", "STRAßE"):
        assert await found(sessions, ops, query) == ["<1@x>"], query


async def test_search_marks_the_words_it_matched(sessions: Sessions) -> None:
    ops = await new_list(sessions)
    await post(sessions, ops, message(
        "<1@x>", subject="Pump <seals> & valves",
        body="Before. " * 40 + "The pump on rig 7 leaks badly.\r\n" + "After. " * 40))
    async with sessions() as session:
        [hit] = await archive.search(session, ops, "pump leaks")
    assert (hit.seq, hit.message_id, hit.author, hit.subject) == (
        1, "<1@x>", "alice@example.org", "Pump <seals> & valves")
    assert hit.date == datetime(2005, 1, 3, 9, 0, tzinfo=UTC)
    assert hit.marked_subject == "\x02Pump\x03 <seals> & valves"
    assert "The \x02pump\x03 on rig 7 \x02leaks\x03 badly" in hit.snippet
    assert len(hit.snippet) < 400


async def test_the_search_index_follows_deletions(sessions: Sessions) -> None:
    ops, dev = await new_list(sessions), await new_list(sessions, "dev@example.com")
    await post(sessions, ops, message("<1@x>", subject="Pump"))
    await post(sessions, dev, message("<2@x>", subject="Pump"))
    async with sessions.begin() as session:
        await delete_list(session, await get_list(session, "ops@example.com"))
    assert await found(sessions, dev, "pump") == ["<2@x>"]
    async with sessions.begin() as session:
        await session.execute(update(ArchivedMessage).values(subject="Valve"))
    assert await found(sessions, dev, "pump") == []
    assert await found(sessions, dev, "valve") == ["<2@x>"]


@pytest.fixture
def cli(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``listserv ARGS`` in-process; return (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def test_cli_import_search_and_export(cli: Cli, tmp_path: Path) -> None:
    source = str(DATA / "pipermail.mbox")
    assert cli("lists", "create", "ops@example.com")[0] == 0
    code, out, err = cli("archive", "import", "ops@example.com", source)
    assert code == 1
    assert out == ("imported 4 messages into ops@example.com; 1 already archived; "
                   "1 given a Message-ID; 1 bad entries\n")
    assert err == (f"listserv: {source}: message 5: "
                   "no From or Date header; not a mail message\n")

    code, out, _ = cli("archive", "search", "ops@example.com", "platform", "B", "--json")
    assert code == 0
    assert [(m["seq"], m["message_id"]) for m in json.loads(out)] == [
        (2, "<pump-3@example.org>"), (1, "<pump-1@example.org>")]
    code, out, _ = cli("archive", "search", "ops@example.com", "platform", "B", "--limit", "1",
                       "--json")
    [hit] = json.loads(out)
    assert hit["seq"] == 2 and "platform" in hit["snippet"].lower()
    code, out, _ = cli("archive", "search", "ops@example.com", "valve inventory")
    assert (code, out) == (0, "3\t2005-01-04 08:00\tcarol@example.org\tValve inventory\n")
    assert cli("archive", "search", "ops@example.com", "turbine") == (
        0, "", "no post in the archive of ops@example.com has every word of: turbine\n")

    exported = tmp_path / "out.mbox"
    code, out, _ = cli("archive", "export", "ops@example.com", "--mbox", str(exported))
    assert (code, out) == (0, f"exported 4 messages from ops@example.com to {exported}\n")
    box = mailbox.mbox(exported)
    assert len(box) == 4
    box.close()
    assert cli("lists", "create", "copy@example.com")[0] == 0
    # Carol's message still has no Message-ID; it gets the same generated one again.
    assert cli("archive", "import", "copy@example.com", str(exported))[:2] == (
        0, "imported 4 messages into copy@example.com; 0 already archived; "
           "1 given a Message-ID; 0 bad entries\n")
    assert cli("archive", "import", "copy@example.com", str(exported))[:2] == (
        0, "imported 0 messages into copy@example.com; 4 already archived; "
           "0 given a Message-ID; 0 bad entries\n")


@pytest.mark.parametrize(("args", "message"), [
    (["archive", "export", "nope@example.com", "--mbox", "x"], "no such list: nope@example.com"),
    (["archive", "export", "ops@example.com", "--mbox", "/nonexistent/dir/x.mbox"],
     "cannot write /nonexistent/dir/x.mbox"),
    (["archive", "import", "ops@example.com", "/nonexistent.mbox"], "cannot read"),
    (["archive", "import", "quiet@example.com", str(DATA / "pipermail.mbox")],
     "quiet@example.com does not archive"),
    (["archive", "search", "ops@example.com", " "], "nothing to search for"),
    (["archive", "search", "ops@example.com", "* - ^"], "nothing to search for"),
    (["archive", "search", "ops@example.com", "pump", "--limit", "0"],
     "expected a whole number of 1 or more"),
    (["archive", "export", "ops@example.com"], "--mbox"),
])
def test_cli_errors_are_one_line(cli: Cli, args: list[str], message: str) -> None:
    cli("lists", "create", "ops@example.com")
    cli("lists", "create", "quiet@example.com")
    cli("lists", "set", "quiet@example.com", "archive=false")
    code, _, err = cli(*args)
    assert code != 0
    assert message in err
    assert err.startswith("listserv: error: ")
    assert len(err.splitlines()) == 1
