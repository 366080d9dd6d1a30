# SPDX-License-Identifier: Apache-2.0
"""The post path end to end: SMTP in, rules, decoration, fan-out to a real SMTP sink."""

import asyncio
import json
import mailbox
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select, text, update

from listserv.app import App, running
from listserv.archive import export_mbox
from listserv.core.addresses import parse_address, parse_mailbox
from listserv.core.list_settings import LIST_SETTINGS, MEMBER_SETTINGS, parse_assignments
from listserv.core.roster import RosterEntry
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.models import ArchivedMessage, HeldMessage, Inbound, InboundState, now
from listserv.db.queue import queue_summary
from listserv.db.roster import ROSTER_CHUNK
from listserv.settings import Settings
from tests.helpers import make_message, run_listserv, send_lmtp
from tests.sink import Delivered, Sink

MEMBERS = ["alice@example.org", "bob@example.net", "carol@example.org"]


async def setup_list(app: App, members: list[str] = MEMBERS, **settings: str) -> None:
    async with app.sessions.begin() as session:
        mlist = await db_lists.create_list(session, "ops@example.com",
                                           display_name="Operations Excellence")
        db_lists.update_list(mlist, parse_assignments(
            [f"{key}={value}" for key, value in settings.items()], LIST_SETTINGS))
        for address in members:
            await db_members.add_member(session, mlist, parse_address(address))


async def set_member(app: App, address: str, **values: str) -> None:
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        member = await db_members.get_member(session, mlist, address)
        db_members.update_member(member, parse_assignments(
            [f"{key}={value}" for key, value in values.items()], MEMBER_SETTINGS))


async def post(app: App, raw: bytes, sender: str = "alice@example.org",
               recipients: tuple[str, ...] = ("ops@example.com",)) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.sendmail(sender, list(recipients), raw)


async def inbound_rows(app: App) -> list[Inbound]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Inbound).order_by(Inbound.id))).all())


def list_mail(sink: Sink) -> list[Delivered]:
    """Posts sent as list mail (notices listserv writes carry no List-Id)."""
    return [delivered for delivered in sink.delivered if delivered.message["List-Id"]]


async def held(app: App) -> list[HeldMessage]:
    async with app.sessions() as session:
        return list((await session.scalars(select(HeldMessage).order_by(HeldMessage.id))).all())


async def test_a_members_post_reaches_every_regular_member_once_as_list_mail(
        app: App, sink: Sink) -> None:
    await setup_list(app, [*MEMBERS, "dan@example.org", "erin@example.org", "fay@example.org"],
                     footer="Operations Excellence list\\nLeave: {unsubscribe_address}")
    await set_member(app, "dan@example.org", delivery_mode="digest-mime")
    await set_member(app, "erin@example.org", delivery_mode="nomail")
    await set_member(app, "fay@example.org", delivery_status="disabled-by-bounce")
    await post(app, make_message(subject="Valve seals", body="Which seals do you use?\n"))
    await app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    [delivered] = sink.delivered
    assert delivered.mail_from == "ops-bounces@example.com"
    message = delivered.message
    assert message["Subject"] == "[ops] Valve seals"
    assert message["List-Id"] == "Operations Excellence <ops.example.com>"
    assert message["List-Post"] == "<mailto:ops@example.com>"
    assert message["List-Unsubscribe"] == "<mailto:ops-leave@example.com>"
    assert message["List-Help"].startswith("<mailto:ops-request@example.com")
    assert message["Precedence"] == "list"
    assert message["X-BeenThere"] == "ops@example.com"
    assert message["From"] == "alice@example.org"
    body = message.get_content()
    assert "Which seals do you use?" in body
    assert "Leave: ops-leave@example.com" in body
    [row] = await inbound_rows(app)
    assert (row.state, row.disposition) == (InboundState.DONE, "accepted")


async def test_a_reply_keeps_a_single_prefix(app: App, sink: Sink) -> None:
    await setup_list(app)
    await post(app, make_message(subject="Re: [ops] Valve seals"))
    await app.settle()
    assert sink.delivered[0].message["Subject"] == "Re: [ops] Valve seals"


async def test_large_lists_go_out_in_chunks_grouped_by_domain(settings: Settings,
                                                              sink: Sink) -> None:
    members = [f"m{n}@d{n % 3}.example.org" for n in range(25)]
    async with running(settings.model_copy(update={"max_recipients_per_transaction": 10})) as app:
        await setup_list(app, members)
        await post(app, make_message(sender="m0@d0.example.org"), sender="m0@d0.example.org")
        await app.settle()
    assert sorted(sink.recipients()) == sorted(members)
    assert sorted(len(d.recipients) for d in sink.delivered) == [5, 10, 10]
    assert all(len({r.split("@")[1] for r in d.recipients}) <= 2 for d in sink.delivered)


async def test_a_roster_of_several_chunks_reaches_every_member_exactly_once(
        app: App, sink: Sink) -> None:
    """The roster is read and queued ROSTER_CHUNK members at a time; a member in any
    chunk, the first or the last, gets the post once, and the choices hold in each."""
    members = [f"m{n}@d{n % 7}.example.org" for n in range(2 * ROSTER_CHUNK + 50)]
    async with app.sessions.begin() as session:
        mlist = await db_lists.create_list(session, "ops@example.com")
        await db_members.import_members(session, mlist, [
            RosterEntry(n, "", parse_mailbox(address)[1]) for n, address in enumerate(members)])
    await set_member(app, members[-1], delivery_mode="nomail")
    await set_member(app, members[ROSTER_CHUNK + 1], delivery_mode="digest-mime")
    await post(app, make_message(sender=members[ROSTER_CHUNK]), sender=members[ROSTER_CHUNK])
    await app.settle()
    got = sink.recipients()
    assert len(got) == len(set(got))
    assert set(got) == set(members) - {members[-1], members[ROSTER_CHUNK + 1]}


async def test_a_nonmembers_post_is_held_with_its_reasons(app: App, sink: Sink) -> None:
    await setup_list(app)
    await post(app, make_message(sender="boss@partner.example"), sender="boss@partner.example")
    await app.settle()
    assert list_mail(sink) == []
    [held_post] = await held(app)
    assert held_post.sender == "boss@partner.example"
    assert held_post.raw.startswith(b"X-Listserv-Rule-Hits: nonmember")
    assert len(held_post.token) >= 32
    [row] = await inbound_rows(app)
    assert row.disposition == "held"
    assert row.rule_hits[0]["rule"] == "nonmember"


@pytest.mark.parametrize(("list_settings", "raw", "disposition", "rule"), [
    ({}, make_message(to="ops@example.com").replace(
        b"Subject:", b"List-Id: Ops <ops.example.com>\r\nSubject:"), "discarded", "loop"),
    ({}, make_message(to="ops@example.com").replace(
        b"Subject:", b"X-BeenThere: ops@example.com\r\nSubject:"), "discarded", "loop"),
    ({"ban_list": "alice@example.org"}, make_message(), "discarded", "banned"),
    ({"ban_list": "^.*@example\\.org$"}, make_message(), "discarded", "banned"),
    ({"max_message_kb": "1"}, make_message(body="x" * 70 + "\n" * 30 + "y" * 2000 + "\n"),
     "held", "max_size"),
    ({}, make_message(to="someone@example.org"), "held", "implicit_destination"),
    ({"header_matches": '[{"header": "X-Spam-Flag", "pattern": "yes", "action": "discard"}]'},
     make_message().replace(b"Subject:", b"X-Spam-Flag: YES\r\nSubject:"), "discarded",
     "header_match"),
    ({"emergency": "true"}, make_message(), "held", "emergency"),
    ({}, make_message(subject="unsubscribe", body="unsubscribe\n"), "held", "administrivia"),
])
async def test_each_rule_ends_as_configured(app: App, sink: Sink, list_settings: dict[str, str],
                                            raw: bytes, disposition: str, rule: str) -> None:
    await setup_list(app, **list_settings)
    await post(app, raw)
    await app.settle()
    assert list_mail(sink) == []
    [row] = await inbound_rows(app)
    assert (row.disposition, row.rule_hits[0]["rule"]) == (disposition, rule)
    assert len(await held(app)) == (disposition == "held")


async def test_a_backtracking_header_pattern_still_holds_what_it_matches(
        app: App, sink: Sink) -> None:
    # (a+)+$ makes Python's re take 2^n steps on n a's and a "!": 30 of them held the
    # event loop for a minute (#14.8). On RE2 both posts are decided at once.
    rule = '[{"header": "Subject", "pattern": "(a+)+$", "action": "hold"}]'
    await setup_list(app, header_matches=rule)
    await post(app, make_message(subject="a" * 30 + "!"))
    await post(app, make_message(subject="Re: " + "a" * 30))
    await app.settle()
    assert [row.disposition for row in await inbound_rows(app)] == ["accepted", "held"]
    [held_post] = await held(app)
    assert held_post.subject == "Re: " + "a" * 30
    assert held_post.raw.startswith(b"X-Listserv-Rule-Hits: header_match")
    [delivered] = list_mail(sink)[:1]
    assert delivered.message["Subject"] == "[ops] " + "a" * 30 + "!"


async def test_a_stored_pattern_re2_cannot_take_matches_nothing_and_is_reported_once(
        app: App, sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    await setup_list(app)
    async with app.sessions.begin() as session:  # as a list set up before RE2 would be
        mlist = await db_lists.get_list(session, "ops@example.com")
        mlist.header_matches = [{"header": "Subject", "pattern": "(x)\\1", "action": "hold"}]
        mlist.ban_list = ["^(?!carol@).*@example\\.org$"]
    for subject in ("xx once", "xx twice"):
        await post(app, make_message(subject=subject))
        await app.settle()
    assert [row.disposition for row in await inbound_rows(app)] == ["accepted", "accepted"]
    warnings = [record.getMessage() for record in caplog.records
                if record.levelname == "WARNING" and "matches nothing" in record.getMessage()]
    assert sorted(warnings) == [
        "ops@example.com: the pattern '(x)\\\\1' in the list's settings matches nothing: "
        "invalid escape sequence: \\1 (RE2 has no backreferences or look-around); change it "
        "with listserv lists set",
        "ops@example.com: the pattern '^(?!carol@).*@example\\\\.org$' in the list's settings "
        "matches nothing: invalid perl operator: (?! (RE2 has no backreferences or "
        "look-around); change it with listserv lists set"]


async def test_a_repeated_message_id_is_held_not_sent_twice(app: App, sink: Sink) -> None:
    await setup_list(app)
    raw = make_message()
    await post(app, raw)
    await app.settle()
    await post(app, raw)
    await app.settle()
    assert len(list_mail(sink)) == 1
    assert [row.disposition for row in await inbound_rows(app)] == ["accepted", "held"]


async def deliver(app: App, protocol: str, raw: bytes, recipients: list[str]) -> None:
    if protocol == "lmtp":
        assert app.lmtp_port is not None
        replies = await send_lmtp(app.lmtp_port, "alice@example.org", recipients, raw)
        # RFC 2033: a reply for every accepted RCPT, repeated ones too.
        assert replies == ["250 2.0.0 Message accepted"] * len(recipients)
    else:
        await post(app, raw, recipients=tuple(recipients))


@pytest.mark.parametrize("protocol", ["smtp", "lmtp"])
async def test_a_list_named_three_times_sends_each_member_one_copy(
        app: App, sink: Sink, protocol: str) -> None:
    await setup_list(app)
    async with app.sessions.begin() as session:
        await db_lists.rename_list(session, await db_lists.get_list(session, "ops@example.com"),
                                   "opex@example.com")
    # The list, its former address (an alias since the rename), and the list in capitals.
    await deliver(app, protocol, make_message(to="opex@example.com"),
                  ["opex@example.com", "ops@example.com", "OPEX@EXAMPLE.COM"])
    await app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)  # once each (#14.3)
    assert [row.disposition for row in await inbound_rows(app)] == ["accepted"]


@pytest.mark.parametrize("protocol", ["smtp", "lmtp"])
async def test_a_message_without_message_id_sent_twice_is_held_as_a_duplicate(
        app: App, sink: Sink, protocol: str) -> None:
    await setup_list(app)
    raw = make_message().replace(b"Message-ID: ", b"X-No-Message-ID: ")
    for _ in range(2):
        await deliver(app, protocol, raw, ["ops@example.com"])
        await app.settle()
    first, second = await inbound_rows(app)
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@listserv.test>")
    assert (first.disposition, second.disposition) == ("accepted", "held")
    assert second.rule_hits[0]["rule"] == "duplicate_message_id"
    [copy] = list_mail(sink)[:1]
    assert copy.message["Message-ID"] == first.message_id
    assert len(list_mail(sink)) == 1


async def test_rejected_sender_is_told_why_but_not_too_often(settings: Settings,
                                                             sink: Sink) -> None:
    async with running(settings.model_copy(update={"autoresponses_per_day": 2})) as app:
        await setup_list(app, nonmember_action="reject")
        for _ in range(3):
            await post(app, make_message(sender="stranger@example.net"),
                       sender="stranger@example.net")
        bulk = make_message(sender="stranger@example.net").replace(
            b"Subject:", b"Precedence: bulk\r\nSubject:")
        await post(app, bulk, sender="lists@example.net")
        await post(app, make_message(sender="stranger@example.net"), sender="")  # a bounce
        await app.settle()
        assert (await inbound_rows(app))[-1].mail_from == ""  # the null sender, not "<>"
    assert [d.recipients for d in sink.delivered] == [["stranger@example.net"]] * 2
    notice = sink.delivered[0].message
    assert notice["Auto-Submitted"] == "auto-replied"
    assert "not a member" in notice.get_body(("plain",)).get_content().lower() or \
        "nonmember" in notice.get_body(("plain",)).get_content().lower()
    assert sink.delivered[0].mail_from == "ops-bounces@example.com"


def attached_message(delivered: Delivered) -> bytes:
    """The message/rfc822 part of a notice as its octets on the wire (RFC 2046 5.1.1)."""
    boundary = delivered.message.get_boundary()
    assert boundary is not None
    for part in delivered.raw.split(b"\r\n--" + boundary.encode())[1:]:
        headers, _, content = part.partition(b"\r\n\r\n")
        if b"Content-Type: message/rfc822" in headers:
            return content
    raise AssertionError("no message/rfc822 part")


async def test_a_rejected_post_comes_back_to_its_sender_whole(app: App, sink: Sink) -> None:
    await setup_list(app, nonmember_action="reject")
    message = EmailMessage()
    message["From"] = message["Sender"] = "stranger@example.net"
    message["To"], message["Subject"] = "ops@example.com", "Rig report"
    message.set_content("Grüße from the rig.\n\n-- \nStranger\n", cte="8bit")
    message.add_attachment(bytes(range(256)) * 1200, maintype="application",  # 300 KB
                           subtype="octet-stream", filename="log.bin")
    raw = message.as_bytes(policy=SMTP)
    await post(app, raw, sender="stranger@example.net")
    await app.settle()
    [notice] = sink.to("stranger@example.net")
    assert "was rejected: Rig report" in str(notice.message["Subject"])
    returned = attached_message(notice)
    assert returned.partition(b"\r\n\r\n")[2] == raw.partition(b"\r\n\r\n")[2]


async def test_a_rejected_post_too_large_to_return_comes_back_as_its_headers(
        settings: Settings, sink: Sink) -> None:
    async with running(settings.model_copy(update={"max_message_size": 100_000})) as app:
        await setup_list(app, nonmember_action="reject")
        await post(app, make_message(sender="stranger@example.net", subject="Rig report",
                                     body="A long report.\n" * 3000),
                   sender="stranger@example.net")
        await app.settle()
    [notice] = sink.to("stranger@example.net")
    parts = [part.get_content_type() for part in notice.message.iter_parts()]
    assert parts == ["text/plain", "text/rfc822-headers"]
    text = " ".join(notice.message.get_body(("plain",)).get_content().split())
    assert "is too large to send back whole" in text


async def test_mail_to_owner_reaches_the_owners(app: App, sink: Sink) -> None:
    await setup_list(app)
    await set_member(app, "carol@example.org", role="owner")
    await post(app, make_message(sender="boss@partner.example", to="ops-owner@example.com"),
               sender="boss@partner.example", recipients=("ops-owner@example.com",))
    await app.settle()
    [forwarded] = sink.delivered
    assert forwarded.recipients == ["carol@example.org"]
    assert forwarded.mail_from == "ops-bounces@example.com"
    assert forwarded.message["From"] == "boss@partner.example"


@pytest.mark.parametrize("raw", [
    b"this is not a mail message at all\r\n",
    b"From: alice@example.org\r\nSubject: =?utf-8?b?broken!!?=\r\nTo: ops@example.com\r\n\r\nx\r\n",
    b"From: alice@example.org\r\nSubject: caf\xe9 8-bit\r\nTo: ops@example.com\r\n\r\nx\r\n",
    b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: nul\r\n\r\nA\x00B\r\n",
    b"To: ops@example.com\r\nSubject: no from\r\n\r\nbody\r\n",
    b"From: not an address\r\nTo: ops@example.com\r\nSubject: bad from\r\n\r\nbody\r\n",
    b"From: alice@example.org\r\nTo: ops@example.com\r\nContent-Type: multipart/mixed; "
    b"boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nunterminated\r\n",
])
async def test_bad_input_is_kept_and_decided_by_the_rules(app: App, sink: Sink,
                                                          raw: bytes) -> None:
    await setup_list(app)
    await post(app, raw)
    await app.settle()
    [row] = await inbound_rows(app)
    assert row.state is InboundState.DONE, row.error
    assert row.raw == f"Message-ID: {row.message_id}\r\n".encode() + raw  # kept as it came
    if b"From: alice@example.org" not in raw:
        assert row.disposition == "held"  # never reaches members unreviewed
        assert list_mail(sink) == []


async def test_a_processing_failure_is_kept_and_does_not_block_the_queue(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    async with app.engine.begin() as connection:
        await connection.execute(text("ALTER TABLE digest_item RENAME TO digest_item_away"))
    try:
        await post(app, make_message(subject="first"))
        await app.settle()
    finally:
        async with app.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE digest_item_away RENAME TO digest_item"))
    await post(app, make_message(subject="second"))
    await app.settle()
    first, second = await inbound_rows(app)
    assert first.state is InboundState.FAILED
    assert "Traceback" in (first.error or "")
    assert second.state is InboundState.DONE
    assert [d.message["Subject"] for d in sink.delivered] == ["[ops] second"]
    async with app.sessions() as session:
        summary = await queue_summary(session)
    assert summary["inbound"]["failed"] == 1
    assert summary["inbound_failed"][0]["id"] == first.id


async def test_a_refused_recipient_does_not_fail_the_others(app: App, sink: Sink) -> None:
    await setup_list(app, [*MEMBERS, "reject-me@example.org", "tempfail-me@example.org"])
    await post(app, make_message())
    await app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    async with app.sessions() as session:
        summary = await queue_summary(session)
    [problem] = summary["delivery_problems"]
    assert problem["state"] == "pending"  # the temporary failure waits for a retry
    assert "451" in problem["last_error"]
    assert summary["recipients_waiting"] == 1


async def test_a_restart_in_the_middle_of_processing_loses_nothing(
        settings: Settings, sink: Sink) -> None:
    async with running(settings) as app:
        await setup_list(app)
        await asyncio.gather(*(post(app, make_message(subject=f"post {n}")) for n in range(20)))
    # Stopped as soon as the posts were accepted: some processed, some not.
    async with running(settings) as app:
        await app.settle()
    subjects = {d.message["Subject"] for d in sink.delivered}
    assert subjects == {f"[ops] post {n}" for n in range(20)}
    for member in MEMBERS:
        assert {d.message["Subject"] for d in sink.to(member)} == subjects


async def test_the_archive_holds_exactly_the_accepted_posts(app: App, sink: Sink,
                                                            tmp_path: Path) -> None:
    await setup_list(app)
    await post(app, make_message(subject="first"))
    await post(app, make_message(sender="stranger@example.net", subject="held"),
               sender="stranger@example.net")
    await post(app, make_message(sender="bob@example.net", subject="second"),
               sender="bob@example.net")
    await app.settle()
    mbox_path = tmp_path / "ops.mbox"
    async with app.sessions() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        assert await export_mbox(session, mlist.id, mbox_path) == 2
    box = mailbox.mbox(mbox_path)
    try:
        archived = [message for message in box]
    finally:
        box.close()
    assert [message["Subject"] for message in archived] == ["[ops] first", "[ops] second"]
    # Archived as sent: decorated, one copy, no per-member parts.
    assert archived[0]["List-Id"] == "Operations Excellence <ops.example.com>"


async def test_a_list_without_archive_stores_nothing(app: App, sink: Sink,
                                                     tmp_path: Path) -> None:
    await setup_list(app, archive="false")
    await post(app, make_message())
    await app.settle()
    assert len(sink.delivered) == 1
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ArchivedMessage)) == 0


async def test_members_choices_about_their_own_and_addressed_copies(app: App,
                                                                    sink: Sink) -> None:
    await setup_list(app)
    await set_member(app, "alice@example.org", receive_own_posts="false")
    await set_member(app, "bob@example.net", skip_if_addressed="true")
    await set_member(app, "carol@example.org", skip_if_addressed="true")
    raw = make_message(to="ops@example.com").replace(
        b"Subject:", b"Cc: Bob <bob@example.net>\r\nSubject:")
    await post(app, raw)
    await app.settle()
    # Alice wrote it and wants no copy; Bob has it directly; Carol was not addressed.
    assert sink.recipients() == ["carol@example.org"]


async def test_a_post_to_a_renamed_lists_old_address_reaches_the_members(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        await db_lists.rename_list(session, mlist, "opex@example.com")
    await post(app, make_message(to="ops@example.com", subject="old habits"))
    await app.settle()
    assert sorted(sink.recipients()) == sorted(MEMBERS)
    assert sink.delivered[0].message["List-Post"] == "<mailto:opex@example.com>"
    assert sink.delivered[0].message["Subject"] == "[opex] old habits"


def test_queue_command_shows_what_waits(cli_env: dict[str, str]) -> None:
    result = run_listserv("queue", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["inbound"] == {} and summary["recipients_waiting"] == 0
    assert run_listserv("queue", env=cli_env).stdout.startswith("inbound: none")


async def test_roster_changes_between_posts_are_seen(app: App, sink: Sink) -> None:
    await setup_list(app)
    await post(app, make_message(subject="one"))
    await app.settle()
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        await db_members.add_member(session, mlist, parse_address("dan@example.org"))
        await session.delete(await db_members.get_member(session, mlist, "carol@example.org"))
    await set_member(app, "bob@example.net", delivery_mode="nomail")
    await post(app, make_message(subject="two"))
    await app.settle()
    second = [d for d in sink.delivered if d.message["Subject"] == "[ops] two"]
    assert sorted(r for d in second for r in d.recipients) == [
        "alice@example.org", "dan@example.org"]


async def test_a_post_nobody_takes_one_by_one_is_accepted_and_archived(app: App,
                                                                      sink: Sink) -> None:
    await setup_list(app, ["alice@example.org", "bob@example.net"])
    await set_member(app, "alice@example.org", delivery_mode="digest-plain")
    await set_member(app, "bob@example.net", delivery_mode="nomail")
    await post(app, make_message(subject="Only for the digest"))
    await app.settle()
    [row] = await inbound_rows(app)
    assert (row.state, row.disposition) == (InboundState.DONE, "accepted")
    assert sink.delivered == []
    async with app.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ArchivedMessage)) == 1


async def test_a_repeated_message_id_is_held_only_within_the_lists_window(
        app: App, sink: Sink) -> None:
    await setup_list(app, duplicate_window_hours="24")
    raw = make_message(subject="Twice")
    for _ in range(2):
        await post(app, raw)
        await app.settle()
    first, second = await inbound_rows(app)
    assert (first.disposition, second.disposition) == ("accepted", "held")
    async with app.sessions.begin() as session:  # the first post, a day and an hour ago
        await session.execute(update(Inbound).where(Inbound.id == first.id)
                              .values(received_at=now() - timedelta(hours=25)))
    await post(app, raw)
    await app.settle()
    assert (await inbound_rows(app))[2].disposition == "accepted"
