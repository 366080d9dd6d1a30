# SPDX-License-Identifier: Apache-2.0
"""Joining and leaving by mail, end to end: commands to -request, -join and -leave,
confirmations, moderator approval and invitations, over real SMTP on loopback."""

import asyncio
import json
import re
import subprocess
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

import aiosmtplib
import pytest
from sqlalchemy import select, update

from listserv.app import App, running
from listserv.core.addresses import parse_address
from listserv.core.list_settings import LIST_SETTINGS, parse_assignments
from listserv.core.policy import Role
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.models import Inbound, InboundState, PendingConfirmation, now
from listserv.settings import Settings
from tests.helpers import run_listserv
from tests.sink import Delivered, Sink

LIST = "ops@example.com"
REQUEST, JOIN, LEAVE = "ops-request@example.com", "ops-join@example.com", "ops-leave@example.com"
ALICE, BOB, CAROL = "alice@example.org", "bob@example.net", "carol@example.org"
OWNER = "mona@example.org"


async def setup_list(app: App, members: tuple[str, ...] = (), **settings: str) -> None:
    async with app.sessions.begin() as session:
        mlist = await db_lists.create_list(session, LIST, display_name="Operations Excellence")
        db_lists.update_list(mlist, parse_assignments(
            [f"{key}={value}" for key, value in settings.items()], LIST_SETTINGS))
        await db_members.add_member(session, mlist, parse_address(OWNER), role=Role.OWNER)
        for address in members:
            await db_members.add_member(session, mlist, parse_address(address))


def mail(*, sender: str = ALICE, to: str = REQUEST, subject: str = "", body: str = "",
         headers: dict[str, str] | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.org")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes(policy=SMTP)


async def send(app: App, raw: bytes, *, mail_from: str = ALICE, to: str = REQUEST) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.sendmail(mail_from, [to], raw)
    await app.settle()


async def ask(app: App, body: str, *, sender: str = ALICE, subject: str = "",
              to: str = REQUEST) -> None:
    """Send a message from sender (envelope and From) and wait until it is dealt with."""
    await send(app, mail(sender=sender, to=to, subject=subject, body=body), mail_from=sender,
               to=to)


async def reply_to(app: App, token: str, body: str = "", *, sender: str = ALICE) -> None:
    await ask(app, body, sender=sender, subject=f"Re: confirm {token}",
              to=f"ops-confirm+{token}@example.com")


async def members(app: App) -> dict[str, str]:
    """The members (not the owner) with their delivery mode and status."""
    async with app.sessions() as session:
        mlist = await db_lists.get_list(session, LIST)
        return {m.address: f"{m.delivery_mode} {m.delivery_status}"
                for m in await db_members.list_members(session, mlist) if m.role is Role.MEMBER}


def text(delivered: Delivered) -> str:
    body = delivered.message.get_body(("plain",))
    assert body is not None
    return " ".join(body.get_content().split())


def token(delivered: Delivered) -> str:
    match = re.fullmatch(r"ops-confirm\+(\w+)@example\.com", delivered.message["Reply-To"])
    assert match, delivered.message["Reply-To"]
    return match.group(1)


def confirmations(sink: Sink, address: str) -> list[Delivered]:
    return [d for d in sink.to(address) if d.message["Subject"].startswith("confirm ")]


def answers(sink: Sink, address: str) -> list[Delivered]:
    """The answers to what address sent (not the mail about a request)."""
    return [d for d in sink.to(address) if d.message["Subject"].startswith(
        ("Re: ", "The results of your message"))]


async def test_subscribe_sends_a_confirmation_and_an_empty_reply_subscribes(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    await ask(app, "", subject="subscribe")
    [request] = confirmations(sink, ALICE)
    secret = token(request)
    assert len(secret) >= 32  # 128 bits
    assert request.message["Subject"] == f"confirm {secret}"
    assert request.message["From"].addresses[0].addr_spec == f"ops-confirm+{secret}@example.com"
    assert request.message["Auto-Submitted"] == "auto-replied"
    assert request.mail_from == "ops-bounces@example.com"
    [answer] = answers(sink, ALICE)
    assert "asking it to confirm the subscription" in text(answer)
    assert await members(app) == {}
    sink.delivered.clear()
    await reply_to(app, secret)
    assert await members(app) == {ALICE: "regular enabled"}
    welcome = [d for d in sink.to(ALICE) if d.message["Subject"] == "Welcome to Operations "
               "Excellence"]
    assert "To leave, write to ops-leave@example.com" in text(welcome[0])
    assert "is a member of ops@example.com now" in text(answers(sink, ALICE)[0])


async def test_a_confirm_command_in_a_reply_subject_subscribes_with_the_mode_chosen(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    await ask(app, "Subscribe digest=plain\n\n-- \nAlice, on the rig\n")
    secret = token(confirmations(sink, ALICE)[0])
    await ask(app, "> Someone, perhaps you, asked to subscribe\n> confirm " + secret,
              subject=f"RE: AW: confirm {secret}")
    assert await members(app) == {ALICE: "digest-plain enabled"}
    last = answers(sink, ALICE)[-1]
    assert "receiving plain-text digests" in text(last)


async def test_join_and_leave_addresses_work_with_their_confirmations(app: App,
                                                                      sink: Sink) -> None:
    await setup_list(app)
    await ask(app, "whatever the message says\nunsubscribe\n", sender=BOB, to=JOIN)
    [request] = sink.to(BOB)  # the confirmation is the only answer
    assert "subscribe bob@example.net to the Operations Excellence list" in text(request)
    await reply_to(app, token(request), "Yes please.", sender=BOB)
    assert await members(app) == {BOB: "regular enabled"}
    sink.delivered.clear()
    await ask(app, "subscribe", sender=BOB, to=LEAVE)
    [request] = sink.to(BOB)
    assert "unsubscribe bob@example.net from" in text(request)
    assert await members(app) == {BOB: "regular enabled"}  # a forged leave removes nobody
    await reply_to(app, token(request), sender=BOB)
    assert await members(app) == {}
    assert any(d.message["Subject"] == "You have left Operations Excellence"
               for d in sink.to(BOB))


async def test_every_set_change_waits_for_the_members_confirmation(app: App,
                                                                   sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    for command, after in (("set delivery digest-plain", "digest-plain enabled"),
                           ("set nomail on", "digest-plain disabled-by-user"),
                           ("set nomail off", "digest-plain enabled")):
        before = await members(app)
        await ask(app, command)
        assert await members(app) == before
        assert "asking it to confirm the change" in text(answers(sink, ALICE)[-1])
        await reply_to(app, token(confirmations(sink, ALICE)[-1]))
        assert await members(app) == {ALICE: after}
    assert "alice@example.org receives plain-text digests." in text(answers(sink, ALICE)[-1])


async def test_set_from_a_non_member_changes_nothing_and_a_forwarded_one_asks_the_member(
        app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    await ask(app, "set delivery digest-mime", sender=BOB)
    await send(app, mail(body="set delivery digest-mime"), mail_from="alice@elsewhere.example")
    assert await members(app) == {ALICE: "regular enabled"}
    assert "bob@example.net is not a member" in text(answers(sink, BOB)[0])
    assert confirmations(sink, BOB) == []
    # The answer to another address says nothing of the membership; the member is asked.
    assert "If alice@example.org is a member, it was sent a message" in text(
        answers(sink, "alice@elsewhere.example")[0])
    [request] = confirmations(sink, ALICE)
    assert "have alice@example.org receive digests (MIME)" in text(request)
    assert "The request came from alice@elsewhere.example." in text(request)


async def test_help_and_an_unknown_command_are_answered_in_one_message(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    await ask(app, "help\nfrobnicate the list\n")
    [answer] = sink.to(ALICE)
    body = text(answer)
    assert "> help" in body and "set delivery regular|digest-mime|digest-plain|nomail" in body
    assert "> frobnicate the list not a command" in body
    assert answer.message["Auto-Submitted"] == "auto-replied"
    assert answer.message["In-Reply-To"]


async def test_a_message_without_commands_is_pointed_to_help(app: App, sink: Sink) -> None:
    await setup_list(app)
    await ask(app, "Hi, how do I get off this thing?", subject="question")
    [answer] = sink.to(ALICE)
    assert text(answer).startswith("No commands were found in your message.")


async def _confirmation_for(app: App, sink: Sink, address: str) -> str:
    await ask(app, f"subscribe {address}", sender=BOB)
    return token(confirmations(sink, address)[-1])


async def test_expired_reused_and_guessed_tokens_subscribe_nobody(app: App,
                                                                  sink: Sink) -> None:
    await setup_list(app)
    await reply_to(app, "0123456789abcdef0123456789abcdef", sender=CAROL)  # guessed
    await ask(app, "confirm 0123456789abcdef0123456789abcdef", sender=CAROL)
    expired = await _confirmation_for(app, sink, CAROL)
    async with app.sessions.begin() as session:
        await session.execute(update(PendingConfirmation).where(
            PendingConfirmation.token == expired).values(expires_at=now() - timedelta(hours=1)))
    await reply_to(app, expired, sender=CAROL)
    await ask(app, f"confirm {expired}", sender=CAROL)
    assert await members(app) == {}
    used = await _confirmation_for(app, sink, CAROL)
    await reply_to(app, used, sender=CAROL)
    assert await members(app) == {CAROL: "regular enabled"}
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, LIST)
        await session.delete(await db_members.get_member(session, mlist, CAROL))
    await reply_to(app, used, sender=CAROL)
    await ask(app, f"confirm {used}", sender=CAROL)
    assert await members(app) == {}
    refusals = [text(d) for d in answers(sink, CAROL)
                if "unknown, already used, or expired" in text(d)]
    assert len(refusals) == 6


@pytest.mark.parametrize(("mail_from", "headers"), [
    ("", {}),  # a bounce
    ("MAILER-DAEMON@mx.example.org", {}),
    (ALICE, {"Auto-Submitted": "auto-replied"}),  # a vacation reply
    (ALICE, {"Precedence": "bulk"}),
    (ALICE, {"List-Id": "Other <other.example.org>"}),
])
@pytest.mark.parametrize("to", [REQUEST, JOIN, LEAVE])
async def test_automatic_mail_gets_no_answer_and_changes_nothing(
        app: App, sink: Sink, mail_from: str, headers: dict[str, str], to: str) -> None:
    await setup_list(app, (BOB,), unsubscribe_confirm="false", subscription_policy="open")
    await send(app, mail(sender=BOB if to == LEAVE else ALICE, to=to, subject="subscribe",
                         body="help\nunsubscribe", headers=headers), mail_from=mail_from, to=to)
    assert sink.delivered == []
    assert await members(app) == {BOB: "regular enabled"}
    async with app.sessions() as session:
        [row] = (await session.scalars(select(Inbound))).all()
    assert (row.state, row.disposition) == (InboundState.DONE, "ignored")


async def test_the_confirmation_goes_only_to_the_address_being_subscribed(
        app: App, sink: Sink) -> None:
    await setup_list(app, subscription_policy="open")
    await ask(app, "subscribe Carol@Example.org digest=mime", sender=BOB)
    [request] = sink.to("Carol@example.org")
    assert "The request came from bob@example.net." in text(request)
    [answer] = sink.to(BOB)
    assert token(request) not in answer.raw.decode()
    assert await members(app) == {}
    await reply_to(app, token(request), sender=CAROL)
    assert await members(app) == {"Carol@example.org": "digest-mime enabled"}


async def test_answers_do_not_reveal_who_is_a_member(app: App, sink: Sink) -> None:
    await setup_list(app, (ALICE,))
    told: dict[str, str] = {}
    for command in ("subscribe", "unsubscribe"):
        for address in (ALICE, CAROL):  # a member, a stranger
            await ask(app, f"{command} {address}", sender=BOB)
            told[f"{command} {address}"] = text(answers(sink, BOB)[-1]).replace(address, "X")
    assert told["subscribe alice@example.org"] == told["subscribe carol@example.org"]
    assert told["unsubscribe alice@example.org"] == told["unsubscribe carol@example.org"]
    # Only the addresses themselves learn anything: the member that it is one already,
    # and that it is asked to leave; the stranger is asked to join, never to leave.
    assert [d.message["Subject"].split()[0] for d in sink.to(ALICE)] == ["You", "confirm"]
    assert "unsubscribe alice@example.org" in text(sink.to(ALICE)[1])
    assert ["subscribe carol@example.org" in text(d) for d in sink.to(CAROL)] == [True]
    for command in ("subscribe", "unsubscribe"):  # from the address itself
        sink.delivered.clear()
        await ask(app, command, sender=CAROL)
        await ask(app, command, sender=ALICE)
        assert text(answers(sink, CAROL)[0]).replace(CAROL, "X") == \
            text(answers(sink, ALICE)[0]).replace(ALICE, "X")
    assert await members(app) == {ALICE: "regular enabled"}


async def test_a_reply_that_says_no_cancels_the_request(app: App, sink: Sink) -> None:
    await setup_list(app)
    secret = await _confirmation_for(app, sink, CAROL)
    await reply_to(app, secret, "No.\n\n> Someone, perhaps you, asked", sender=CAROL)
    assert "Cancelled" in text(answers(sink, CAROL)[-1])
    await reply_to(app, secret, sender=CAROL)
    assert await members(app) == {}


async def test_repeated_requests_send_few_confirmations(settings: Settings, sink: Sink) -> None:
    async with running(settings.model_copy(update={"confirmations_per_day": 2})) as app:
        await setup_list(app)
        for _ in range(4):
            await ask(app, f"subscribe {CAROL}", sender=BOB)
        assert len(confirmations(sink, CAROL)) == 2
        assert len(answers(sink, BOB)) == 4  # told the same each time


async def test_an_open_list_subscribes_its_sender_at_once(app: App, sink: Sink) -> None:
    await setup_list(app, subscription_policy="open", notify_owners_of_subscriptions="true",
                     welcome_message="Hello from the rig crew.")
    await ask(app, "", sender=CAROL, to=JOIN)
    assert await members(app) == {CAROL: "regular enabled"}
    [welcome] = [d for d in sink.to(CAROL) if d.message["Subject"].startswith("Welcome")]
    assert text(welcome).startswith("Hello from the rig crew.")
    [notice] = sink.to(OWNER)
    assert notice.message["Subject"] == "[ops] carol@example.org joined"


async def test_the_moderators_approve_by_reply_and_nobody_else_can(app: App,
                                                                   sink: Sink) -> None:
    await setup_list(app, subscription_policy="moderate")
    await ask(app, "subscribe", sender=CAROL)
    [request] = sink.to(OWNER)
    assert request.message["Subject"] == "[ops] Subscription request: carol@example.org"
    assert confirmations(sink, CAROL) == []
    await reply_to(app, token(request), "approve", sender=CAROL)  # not a moderator
    assert await members(app) == {}
    assert "only the list's moderators and owners" in text(answers(sink, CAROL)[-1])
    await reply_to(app, token(request), "", sender=OWNER)
    assert await members(app) == {CAROL: "regular enabled"}
    assert "Approved: carol@example.org is a member" in text(answers(sink, OWNER)[-1])
    assert any(d.message["Subject"].startswith("Welcome") for d in sink.to(CAROL))


async def test_confirm_then_moderate_asks_both_and_a_rejection_is_explained(
        app: App, sink: Sink) -> None:
    await setup_list(app, subscription_policy="confirm_then_moderate")
    await ask(app, "subscribe", sender=CAROL)
    await reply_to(app, token(confirmations(sink, CAROL)[0]), sender=CAROL)
    assert "The moderators of ops@example.com decide" in text(answers(sink, CAROL)[-1])
    [request] = sink.to(OWNER)
    await reply_to(app, token(request), "Reject: only people from the company", sender=OWNER)
    assert await members(app) == {}
    [declined] = [d for d in sink.to(CAROL) if "request to join" in d.message["Subject"]]
    assert "The moderator said: only people from the company" in text(declined)


async def test_leaving_without_confirmation_where_the_list_allows_it(app: App,
                                                                     sink: Sink) -> None:
    await setup_list(app, (ALICE, CAROL), unsubscribe_confirm="false")
    await ask(app, "", sender=ALICE, to=LEAVE)
    await ask(app, f"unsubscribe {CAROL}", sender=BOB)  # someone else still needs Carol's yes
    assert await members(app) == {CAROL: "regular enabled"}
    assert [d.message["Subject"] for d in sink.to(ALICE)][:1] == [
        "You have left Operations Excellence"]
    assert len(confirmations(sink, CAROL)) == 1


@pytest.mark.parametrize(("visibility", "sender", "shown"), [
    ("private", ALICE, False),
    ("members", ALICE, True),
    ("members", BOB, False),
    ("public", BOB, True),
])
async def test_who_shows_the_members_only_where_the_list_allows(
        app: App, sink: Sink, visibility: str, sender: str, shown: bool) -> None:
    await setup_list(app, (ALICE, CAROL), roster_visibility=visibility)
    await ask(app, "who", sender=sender)
    body = text(answers(sink, sender)[0])
    assert (CAROL in body) is shown


HTML = ("MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><body><p>Subscribe digest=plain</p><blockquote>help</blockquote></body></html>\r\n")
QP = ("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\nsub=\r\nscribe=20digest=3Dplain\r\n")


def raw(subject: bytes, body: str) -> bytes:
    return (b"From: alice@example.org\r\nTo: ops-request@example.com\r\nSubject: " + subject
            + b"\r\nMessage-ID: <x@example.org>\r\n" + body.encode())


@pytest.mark.parametrize(("message", "says", "asked"), [
    (raw(b"garbage", "\r\n\x00\xff\xfe" * 3 + "\r\n"), "No commands were found", 0),
    (raw(b"x", "\r\n" + "subscribe\r\n" * 5000), "Stopped reading after 20 commands", 1),
    (raw(b"x", "\r\n" + "blah\r\n" * 5000), "Stopped reading after 5 lines", 0),
    (raw(b"caf\xe9 subscribe \xff", "\r\nhelp\r\n"), "set nomail on|off", 0),
    (raw(b"=?utf-8?b?broken!!?=", "\r\nsubscribe\r\n"), "asking it to confirm", 1),
    (raw(b"Re: SUBSCRIBE", "\r\n"), "asking it to confirm", 1),
    (raw(b"html", HTML), "asking it to confirm", 1),
    (raw(b"qp", QP), "asking it to confirm", 1),
    (raw(b"x", "\r\nsubscribe not-an-address digest=mime\r\n"), "is not a valid address", 0),
    (raw(b"x", "\r\nsubscribe ops-request@example.com\r\n"), "address of a mailing list", 0),
    (raw(b"x", "\r\nconfirm ../../etc/passwd\r\n"), "is not a valid confirmation token", 0),
    (raw(b"x", "\r\nset delivery sometimes\r\n"), "set delivery takes regular", 0),
    (b"this is not a mail message at all\r\n", "No commands were found", 0),
])
async def test_bad_input_gets_a_clear_answer_and_subscribes_nobody(
        app: App, sink: Sink, message: bytes, says: str, asked: int) -> None:
    await setup_list(app)
    await send(app, message)
    async with app.sessions() as session:
        [row] = (await session.scalars(select(Inbound))).all()
    assert row.state is InboundState.DONE, row.error
    [answer] = answers(sink, ALICE) or [d for d in sink.to(ALICE)
                                         if not d.message["Subject"].startswith("confirm")]
    assert says in text(answer)
    assert len(confirmations(sink, ALICE)) == asked
    assert await members(app) == {}


async def cli(*args: str, env: dict[str, str]) -> "subprocess.CompletedProcess[str]":
    """Run the console script beside the running server (which keeps serving meanwhile)."""
    return await asyncio.to_thread(run_listserv, *args, env=env)


async def test_an_invitation_from_the_command_line_subscribes_on_reply(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_list(app, (ALICE,), subscription_policy="confirm_then_moderate")
    result = await cli("members", "invite", LIST, "Dan <dan@example.org>", ALICE, env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "invited dan@example.org to ops@example.com",
        "alice@example.org is a member of ops@example.com already; not invited"]
    queued = await cli("queue", "--json", env=cli_env)
    [waiting] = json.loads(queued.stdout)["confirmations_waiting"]
    assert (waiting["list"], waiting["action"], waiting["address"]) == (
        LIST, "invite", "dan@example.org")
    shown = (await cli("queue", env=cli_env)).stdout
    assert "ops@example.com: invite dan@example.org, expires" in shown
    await app.settle()
    [invitation] = sink.to("dan@example.org")
    assert invitation.message["Subject"] == "Invitation to join Operations Excellence"
    assert token(invitation) not in queued.stdout + shown
    await reply_to(app, token(invitation), sender="dan@example.org")
    assert await members(app) == {ALICE: "regular enabled", "dan@example.org": "regular enabled"}
