# SPDX-License-Identifier: Apache-2.0
"""Moderation by mail end to end: held posts, notices, decisions by reply, expiry, floods."""

import base64
import json
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from listserv.app import App
from listserv.core.addresses import parse_address
from listserv.core.policy import Role
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.models import ArchivedMessage, now
from tests.helpers import listserv_cli, make_message
from tests.sink import Delivered, Sink
from tests.test_post_path import MEMBERS, held, post, set_member, setup_list

MODERATOR = "mo@example.org"
OWNER = "olga@example.org"
STRANGER = "boss@partner.example"


async def setup_moderated_list(app: App, **settings: str) -> None:
    await setup_list(app, **settings)
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        await db_members.add_member(session, mlist, parse_address(MODERATOR),
                                    role=Role.MODERATOR)
        await db_members.add_member(session, mlist, parse_address(OWNER), role=Role.OWNER)


def notices_to(sink: Sink, address: str, marker: str = "Held:") -> list[EmailMessage]:
    return [d.message for d in sink.to(address) if marker in str(d.message["Subject"])]


def reply_address(notice: EmailMessage) -> str:
    return str(notice["Reply-To"])


def to_members(sink: Sink) -> list[Delivered]:
    return [d for d in sink.delivered if set(d.recipients) & set(MEMBERS)
            and d.mail_from == "ops-bounces@example.com" and d.message["List-Id"]
            and "Held" not in str(d.message["Subject"])]


def reply(to: str, body: str = "", *, sender: str = MODERATOR, subject: str = "Re: Held",
          html: str | None = None) -> bytes:
    return make_message(sender=sender, to=to, subject=subject, body=body, html=html)


async def send_reply(app: App, to: str, body: str = "", **options: str) -> None:
    sender = options.get("sender", MODERATOR)
    await post(app, reply(to, body, **options), sender=sender, recipients=(to,))
    await app.settle()


async def hold_one(app: App, sink: Sink, subject: str = "Partnership") -> str:
    """A stranger's post is held; return the reply address of the moderators' notice."""
    await post(app, make_message(sender=STRANGER, subject=subject), sender=STRANGER)
    await app.settle()
    [notice] = [n for n in notices_to(sink, MODERATOR) if subject in str(n["Subject"])]
    return reply_address(notice)


async def test_a_held_post_reaches_every_moderator_and_owner_as_one_notice(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink, "Partnership proposal")
    [delivery] = [d for d in sink.delivered if MODERATOR in d.recipients]
    assert sorted(delivery.recipients) == [MODERATOR, OWNER]
    notice = delivery.message
    token = address.removeprefix("ops-confirm+").removesuffix("@example.com")
    assert len(token) >= 32 and address == f"ops-confirm+{token}@example.com"
    assert str(notice["From"]).endswith(f"<{address}>")
    assert "Partnership proposal" in str(notice["Subject"])
    assert STRANGER in str(notice["Subject"])
    assert notice["References"] == "<moderation@ops.example.com>"
    text = notice.get_body(("plain",)).get_content()
    assert "not a member" in text and "approve always" in text
    [attached] = [part for part in notice.iter_attachments()
                  if part.get_content_type() == "message/rfc822"]
    assert attached.get_content()["Subject"] == "Partnership proposal"
    assert to_members(sink) == []
    [author_notice] = notices_to(sink, STRANGER, "awaits moderation")
    assert author_notice["Auto-Submitted"] == "auto-replied"


async def test_the_author_of_a_held_post_is_told_why_in_plain_words(app: App,
                                                                    sink: Sink) -> None:
    await setup_moderated_list(app)
    await hold_one(app, sink)
    [author_notice] = notices_to(sink, STRANGER, "awaits moderation")
    text = " ".join(author_notice.get_body(("plain",)).get_content().split())
    assert ("You are not a member of ops@example.com. Members' posts go out at once: to "
            "join, send a message to ops-join@example.com.") in text
    [held_post] = await held(app)
    assert held_post.reasons[0] not in text  # the moderators' reason stays theirs
    [notice] = notices_to(sink, MODERATOR)
    assert held_post.reasons[0] in " ".join(notice.get_body(("plain",)).get_content().split())


async def test_an_approve_reply_releases_the_post_to_every_member_exactly_once(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "Approve\n\nOn Tue, the list wrote:\n> reject\n")
    [released] = to_members(sink)
    assert sorted(set(sink.recipients()) & set(MEMBERS)) == sorted(MEMBERS)
    assert released.message["Subject"] == "[ops] Partnership"
    assert "X-Listserv-Rule-Hits" not in released.message
    [ack] = notices_to(sink, MODERATOR, "Re: Held")
    assert "Approved and sent to the list" in ack.get_content()
    await send_reply(app, address, "approve")
    assert len(to_members(sink)) == 1
    second = notices_to(sink, MODERATOR, "Re: Held")[-1].get_content()
    assert "already decided" in second and MODERATOR in second and "approve" in second
    async with app.sessions() as session:
        assert len((await session.scalars(select(ArchivedMessage))).all()) == 1


async def test_an_empty_reply_approves(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "", subject="Re: Re: AW: [ops] Held: Partnership")
    assert len(to_members(sink)) == 1


async def test_reject_with_a_reason_tells_the_author_and_sends_nothing_to_members(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "reject Off topic for this list\n-- \nMo")
    assert to_members(sink) == []
    [rejection] = notices_to(sink, STRANGER, "rejected")
    assert "Off topic for this list" in rejection.get_body(("plain",)).get_content()
    [row] = await held(app)
    assert (row.decision, row.decided_by, row.decision_reason) == (
        "reject", MODERATOR, "Off topic for this list")


@pytest.mark.parametrize(("sender", "token"), [
    ("alice@example.org", None),  # a member, not a moderator
    (STRANGER, None),  # the author approving their own post
    (MODERATOR, "0" * 32),  # a guessed token
    (MODERATOR, "short"),
])
async def test_replies_without_authority_release_nothing(app: App, sink: Sink, sender: str,
                                                          token: str | None) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    if token is not None:
        address = f"ops-confirm+{token}@example.com"
    await send_reply(app, address, "approve", sender=sender)
    assert to_members(sink) == []
    [row] = await held(app)
    assert row.decided_at is None
    [answer] = [d.message for d in sink.to(sender) if "Re: Held" in str(d.message["Subject"])]
    assert "Nothing was done" in answer.get_content()


async def test_a_token_of_another_list_decides_nothing(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    async with app.sessions.begin() as session:
        other = await db_lists.create_list(session, "crew@example.com")
        await db_members.add_member(session, other, parse_address(MODERATOR),
                                    role=Role.MODERATOR)
    address = await hold_one(app, sink)
    await send_reply(app, address.replace("ops-confirm", "crew-confirm"), "approve")
    assert to_members(sink) == []
    assert (await held(app))[0].decided_at is None


async def test_an_automatic_reply_from_a_moderator_decides_nothing_and_gets_no_answer(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    raw = reply(address, "I am away until Monday.").replace(
        b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:")
    await post(app, raw, sender=MODERATOR, recipients=(address,))
    await app.settle()
    assert to_members(sink) == []
    assert notices_to(sink, MODERATOR, "Re: Held") == []
    assert (await held(app))[0].decided_at is None


async def test_an_unclear_reply_decides_nothing_and_says_how_to_answer(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "approve? no wait, let me check with Olga")
    assert to_members(sink) == []
    [answer] = notices_to(sink, MODERATOR, "Re: Held")
    assert "not a decision" in answer.get_content()


@pytest.mark.parametrize("variant", ["html", "base64", "quoted-printable", "outlook", "huge"])
async def test_replies_from_any_mail_client_are_read(app: App, sink: Sink, variant: str) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    if variant == "html":
        raw = reply(address, "", html="<div>discard</div><div class=gmail_quote>"
                    "<blockquote>approve</blockquote></div>")
        raw = raw.replace(b"Content-Type: text/plain", b"Content-Type: text/x-ignored", 1)
    elif variant == "base64":
        body = base64.encodebytes(b"discard\r\n\r\nMo\r\n").decode()
        raw = reply(address, "x").split(b"\r\n\r\n")[0].replace(
            b"Content-Transfer-Encoding: 7bit", b"Content-Transfer-Encoding: base64")
        raw += b"\r\n\r\n" + body.replace("\n", "\r\n").encode()
    elif variant == "quoted-printable":
        raw = reply(address, "x").split(b"\r\n\r\n")[0].replace(
            b"Content-Transfer-Encoding: 7bit", b"Content-Transfer-Encoding: quoted-printable")
        raw += b"\r\n\r\n=20dis=\r\ncard=20\r\n\r\nMo=E2=80=99s phone\r\n"
    elif variant == "outlook":
        raw = reply(address, "discard\n\n-----Original Message-----\nFrom: ops\n\napprove\n")
    else:
        raw = reply(address, "discard\n" + "> quoted approve line\n" * 200_000)
    await post(app, raw, sender=MODERATOR, recipients=(address,))
    await app.settle()
    assert to_members(sink) == []
    assert (await held(app))[0].decision == "discard"


async def test_defer_keeps_the_post_held_and_its_address_working(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "defer")
    assert (await held(app))[0].decided_at is None
    await send_reply(app, address, "approve")
    assert len(to_members(sink)) == 1


async def test_approve_always_lets_the_authors_next_post_through(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "approve always")
    await post(app, make_message(sender=STRANGER, subject="Follow-up"), sender=STRANGER)
    await app.settle()
    assert [d.message["Subject"] for d in to_members(sink)] == ["[ops] Partnership",
                                                                 "[ops] Follow-up"]


async def test_approve_always_clears_a_moderated_members_flag(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    await set_member(app, "alice@example.org", moderated="true")
    await post(app, make_message(subject="First"))
    await app.settle()
    [notice] = notices_to(sink, MODERATOR)
    await send_reply(app, reply_address(notice), "approve always")
    await post(app, make_message(subject="Second"))
    await app.settle()
    assert [d.message["Subject"] for d in to_members(sink)] == ["[ops] First", "[ops] Second"]


async def test_ban_discards_and_refuses_the_authors_later_posts(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await send_reply(app, address, "ban")
    await post(app, make_message(sender=STRANGER, subject="Again"), sender=STRANGER)
    await app.settle()
    assert to_members(sink) == []
    assert len(await held(app)) == 1  # the second post was discarded, not held


async def test_the_author_can_withdraw_a_held_post(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    [author_notice] = notices_to(sink, STRANGER, "awaits moderation")
    await send_reply(app, reply_address(author_notice), "withdraw", sender=STRANGER)
    assert (await held(app))[0].decision == "withdraw"
    await send_reply(app, address, "approve")
    assert to_members(sink) == []


async def test_an_expired_post_is_discarded_and_reported(app: App, sink: Sink) -> None:
    await setup_moderated_list(app)
    address = await hold_one(app, sink)
    await app.workers.housekeeping(now() + timedelta(days=6))
    assert (await held(app))[0].decided_at is None
    await app.workers.housekeeping(now() + timedelta(days=7, minutes=1))
    await app.settle()
    assert (await held(app))[0].decision == "expire"
    [report] = notices_to(sink, MODERATOR, "expired")
    assert "Partnership" in report.get_content() and "discarded" in report.get_content()
    assert notices_to(sink, STRANGER, "rejected") == []
    await send_reply(app, address, "approve")
    assert to_members(sink) == []


async def test_an_expired_post_is_returned_when_the_list_says_reject(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app, hold_expiry_action="reject", max_days_to_hold="2")
    await hold_one(app, sink)
    await app.workers.housekeeping(now() + timedelta(days=2, minutes=1))
    await app.settle()
    [rejection] = notices_to(sink, STRANGER, "rejected")
    assert "within 2 days" in rejection.get_body(("plain",)).get_content()


async def test_a_flood_of_held_posts_is_summarised_past_the_hourly_limit(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app, moderator_notices_per_hour="2")
    for number in range(5):
        await post(app, make_message(sender=STRANGER, subject=f"Spam {number}"),
                   sender=STRANGER)
    await app.settle()
    assert len(notices_to(sink, MODERATOR)) == 2
    await app.workers.housekeeping(now())
    await app.settle()
    [summary] = notices_to(sink, MODERATOR, "held posts await moderation")
    text = summary.get_content()
    addresses = [word for word in text.split() if word.startswith("ops-confirm+")]
    assert len(addresses) == 3 and all(f"Spam {n}" in text for n in (2, 3, 4))
    await app.workers.housekeeping(now() + timedelta(minutes=5))
    await app.settle()
    assert len(notices_to(sink, MODERATOR, "held posts await moderation")) == 1
    await send_reply(app, addresses[0], "approve")
    assert [d.message["Subject"] for d in to_members(sink)] == ["[ops] Spam 2"]


async def test_the_flood_limit_switches_on_emergency_moderation(app: App, sink: Sink) -> None:
    await setup_moderated_list(app, flood_max_posts="3", flood_window_minutes="60")
    for number in range(4):
        await post(app, make_message(subject=f"Post {number}"))
        await app.settle()
    assert len(to_members(sink)) == 3
    [flood] = notices_to(sink, MODERATOR, "Flood")
    assert "emergency moderation" in flood.get_content()
    [row] = await held(app)
    assert row.subject == "Post 3"
    async with app.sessions() as session:
        assert (await db_lists.get_list(session, "ops@example.com")).emergency


@pytest.mark.parametrize("where", ["header", "body"])
async def test_the_moderator_password_passes_moderation_and_is_removed(
        app: App, sink: Sink, where: str) -> None:
    await setup_moderated_list(app, moderator_password="correct horse")
    raw = make_message(sender=STRANGER, subject="Announcement", body="Dear all,\n")
    if where == "header":
        raw = raw.replace(b"Subject:", b"Approved: correct horse\r\nSubject:")
    else:
        raw = raw.replace(b"Dear all,", b"Approved: correct horse\r\n\r\nDear all,")
    await post(app, raw, sender=STRANGER)
    await app.settle()
    [released] = to_members(sink)
    assert b"correct horse" not in released.raw
    assert "Dear all," in released.message.get_body(("plain",)).get_content()
    async with app.sessions() as session:
        [archived] = (await session.scalars(select(ArchivedMessage))).all()
    assert b"correct horse" not in archived.raw


async def test_a_wrong_moderator_password_is_held_like_any_post(app: App, sink: Sink) -> None:
    await setup_moderated_list(app, moderator_password="correct horse")
    raw = make_message(sender=STRANGER).replace(b"Subject:", b"Approved: guess\r\nSubject:")
    await post(app, raw, sender=STRANGER)
    await app.settle()
    assert to_members(sink) == []
    assert len(await held(app)) == 1


async def test_held_posts_are_listed_shown_and_decided_from_the_command_line(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_moderated_list(app)
    await hold_one(app, sink)
    await post(app, make_message(sender=STRANGER, subject="Second"), sender=STRANGER)
    await app.settle()
    listed = await listserv_cli("held", "list", "ops@example.com", "--json", env=cli_env)
    assert listed.returncode == 0, listed.stderr
    first, second = json.loads(listed.stdout)
    assert (first["author"], first["subject"]) == (STRANGER, "Partnership")
    assert "not a member" in first["reasons"][0] and first["age_hours"] >= 0
    shown = await listserv_cli("held", "show", str(first["id"]), env=cli_env)
    assert shown.returncode == 0 and "Subject: Partnership" in shown.stdout
    approved = await listserv_cli("held", "approve", str(first["id"]), env=cli_env)
    assert approved.returncode == 0 and "Approved" in approved.stdout
    rejected = await listserv_cli("held", "reject", str(second["id"]), "--reason", "Not now",
                            env=cli_env)
    assert rejected.returncode == 0, rejected.stderr
    await app.settle()
    assert [d.message["Subject"] for d in to_members(sink)] == ["[ops] Partnership"]
    assert "Not now" in notices_to(sink, STRANGER, "rejected")[0].get_body(
        ("plain",)).get_content()
    again = await listserv_cli("held", "approve", str(first["id"]), env=cli_env)
    assert again.returncode == 1 and "already decided" in again.stderr
    missing = await listserv_cli("held", "discard", "999999", env=cli_env)
    assert missing.returncode == 1 and "no held post" in missing.stderr
