# SPDX-License-Identifier: Apache-2.0
"""Digests end to end: posts collected, digests sent by the CLI and by ``listserv serve``
on its own, in both formats, to a real SMTP sink on loopback."""

import asyncio
import json
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import func, select, update

from listserv.app import App, running
from listserv.core.digests import RFC1153_SEPARATOR, RFC1153_START, Schedule, next_slot
from listserv.db.engine import create_engine
from listserv.db.models import DigestItem, MailingList, Member, now
from listserv.settings import Settings
from tests.helpers import listserv_cli, make_message, run_listserv, verp_address
from tests.sink import Delivered, Sink
from tests.test_post_path import post, set_member, setup_list

REGULAR = ["alice@example.org", "bob@example.net"]
MIME, PLAIN = "dan@example.org", "erin@example.net"
MEMBERS = [*REGULAR, MIME, PLAIN]


async def setup_digest_list(app: App, **settings: str) -> None:
    await setup_list(app, MEMBERS, footer="Operations Excellence\\nLeave: {unsubscribe_address}",
                     **settings)
    await set_member(app, MIME, delivery_mode="digest-mime")
    await set_member(app, PLAIN, delivery_mode="digest-plain")


async def post_all(app: App, *subjects: str, body: str = "Pressure holds at 40 bar.\n") -> None:
    """Post one message per subject, each processed before the next is sent."""
    for subject in subjects:
        await post(app, make_message(subject=subject, body=body))
        await app.settle()


def digests_to(sink: Sink, address: str) -> list[Delivered]:
    return [d for d in sink.to(address) if "Digest" in str(d.message["Subject"])]


def attached_subjects(message: EmailMessage) -> list[str]:
    _, digest, *_ = message.iter_parts()
    return [str(part.get_content()["Subject"]) for part in digest.iter_parts()]


def plain_subjects(message: EmailMessage) -> list[str]:
    text = str(message.get_content()).replace("\r\n", "\n")
    _, _, posts = text.partition(f"\n\n{RFC1153_START}\n\n")
    return [line.removeprefix("Subject: ") for line in posts.splitlines()
            if line.startswith("Subject: ") and line != "Subject: Digest Footer"]


async def digests_send(app: App, env: dict[str, str], *args: str) -> str:
    # In a thread: a transaction the running server has open when the command starts
    # must be able to finish (SQLite), as it would in a process of its own.
    result = await asyncio.to_thread(run_listserv, "digests", "send", *args, env=env)
    assert result.returncode == 0, result.stderr
    await app.settle()
    return result.stdout


async def test_digest_members_get_nothing_until_digests_send_then_one_digest_each(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    await post_all(app, "Valve seals", "Night shift", "Supply boat")
    assert sorted(sink.recipients()) == sorted(REGULAR * 3)  # one by one, three times
    assert sink.to(MIME) == [] and sink.to(PLAIN) == []
    sent = await digests_send(app, cli_env)
    assert sent == ("ops@example.com: Vol 1, Issue 1 with 3 posts to 1 MIME, 1 plain\n")
    [mime], [plain] = digests_to(sink, MIME), digests_to(sink, PLAIN)
    assert (mime.recipients, plain.recipients) == ([MIME], [PLAIN])
    assert mime.mail_from == plain.mail_from == "ops-bounces@example.com"
    subjects = ["[ops] Valve seals", "[ops] Night shift", "[ops] Supply boat"]
    assert attached_subjects(mime.message) == subjects
    assert plain_subjects(plain.message) == subjects
    for delivered in (mime, plain):
        assert delivered.message["Subject"] == "Operations Excellence Digest, Vol 1, Issue 1"
        assert delivered.message["List-Id"] == "Operations Excellence <ops.example.com>"
    assert len(sink.to(REGULAR[0])) == 3  # no digest for regular members
    assert await digests_send(app, cli_env) == "no digest waits to be sent\n"
    assert len(sink.delivered) == 3 + 2


async def test_the_mime_digest_parses_into_contents_posts_and_footer(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    await post_all(app, "Valve seals", "Night shift")
    await digests_send(app, cli_env)
    [mime] = digests_to(sink, MIME)
    message = mime.message
    assert message.get_content_type() == "multipart/mixed"
    contents, digest, footer = message.iter_parts()
    assert (contents.get_content_type(), digest.get_content_type(),
            footer.get_content_type()) == ("text/plain", "multipart/digest", "text/plain")
    assert "   1. [ops] Valve seals (alice@example.org)" in contents.get_content()
    assert [part.get_content_type() for part in digest.iter_parts()] == ["message/rfc822"] * 2
    first = next(digest.iter_parts()).get_content()
    assert first.get_content().startswith("Pressure holds at 40 bar.")  # the decorated post
    assert "Leave: ops-leave@example.com" in footer.get_content()
    assert not [defect for part in message.walk() for defect in part.defects]


async def test_a_digest_goes_out_by_itself_once_the_posts_pass_the_size_limit(
        app: App, sink: Sink) -> None:
    await setup_digest_list(app, digest_size_kb="4", digest_period="never")
    await post_all(app, "Small")
    await app.workers.housekeeping(now())
    await app.settle()
    assert digests_to(sink, MIME) == []
    await post_all(app, "Large", body="A long report.\n" * 300)
    await app.workers.housekeeping(now())
    await app.settle()
    [mime] = digests_to(sink, MIME)
    assert attached_subjects(mime.message) == ["[ops] Small", "[ops] Large"]
    assert len(digests_to(sink, PLAIN)) == 1


async def test_a_daily_digest_goes_out_at_its_hour_in_the_lists_time_zone(
        app: App, sink: Sink) -> None:
    await setup_digest_list(app, timezone="America/New_York", digest_hour="6")
    await post_all(app, "Valve seals")
    slot = next_slot(Schedule(timezone="America/New_York"), now())
    assert slot is not None
    await app.workers.housekeeping(slot - timedelta(minutes=1))
    await app.settle()
    assert digests_to(sink, MIME) == []
    await app.workers.housekeeping(slot + timedelta(minutes=1))
    await app.settle()
    assert len(digests_to(sink, MIME)) == len(digests_to(sink, PLAIN)) == 1
    await app.workers.housekeeping(slot + timedelta(days=1, minutes=1))  # an empty period
    await app.settle()
    assert len(digests_to(sink, MIME)) == 1


async def test_a_digest_that_fell_due_while_the_server_was_down_goes_out_at_start(
        settings: Settings, sink: Sink) -> None:
    async with running(settings) as app:
        await setup_digest_list(app, digest_period="weekly")
        await post_all(app, "Before the outage")
    engine, sessions = create_engine(settings.async_database_url)
    async with sessions.begin() as session:  # the week's digest hour passed while it was down
        await session.execute(update(DigestItem).values(created_at=now() - timedelta(days=8)))
        # ... and dan and erin had switched to digests before the post, as they did
        await session.execute(update(Member).values(digest_since=now() - timedelta(days=9)))
    await engine.dispose()
    async with running(settings) as app:
        await sink.wait_for(lambda: len(digests_to(sink, MIME)) == 1)
        await app.settle()
    assert attached_subjects(digests_to(sink, MIME)[0].message) == ["[ops] Before the outage"]
    assert len(digests_to(sink, PLAIN)) == 1


async def test_numbering_is_right_across_several_digests_and_a_restart(
        settings: Settings, sink: Sink, cli_env: dict[str, str]) -> None:
    async with running(settings) as app:
        await setup_digest_list(app)
        for subject in ("One", "Two"):
            await post_all(app, subject)
            await digests_send(app, cli_env)
    async with running(settings) as app:
        await post_all(app, "Three")
        await digests_send(app, cli_env)
        await post_all(app, "Four")
        assert "Vol 2, Issue 1 with 1 post to" in await digests_send(app, cli_env, "--new-volume",
                                                                   "ops@example.com")
        async with app.sessions() as session:
            mlist = await session.scalar(select(MailingList))
            assert mlist is not None
            assert (mlist.digest_volume, mlist.digest_issue) == (2, 1)
            issues = (await session.execute(select(DigestItem.digest_volume,
                                                   DigestItem.digest_issue)
                                            .order_by(DigestItem.id))).all()
    assert [str(d.message["Subject"]).partition(", ")[2] for d in digests_to(sink, PLAIN)] == [
        "Vol 1, Issue 1", "Vol 1, Issue 2", "Vol 1, Issue 3", "Vol 2, Issue 1"]
    assert [tuple(row) for row in issues] == [(1, 1), (1, 2), (1, 3), (2, 1)]


async def test_a_new_year_starts_a_new_volume(app: App, sink: Sink,
                                              cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    await post_all(app, "Last year")
    await digests_send(app, cli_env)
    async with app.sessions.begin() as session:
        await session.execute(update(MailingList).values(
            digest_last_sent_at=now() - timedelta(days=366)))
    await post_all(app, "This year")
    await digests_send(app, cli_env)
    assert [str(d.message["Subject"]).partition(", ")[2] for d in digests_to(sink, MIME)] == [
        "Vol 1, Issue 1", "Vol 2, Issue 1"]


async def test_a_member_who_switches_to_regular_gets_the_pending_digest_first(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    await set_member(app, "bob@example.net", delivery_mode="digest-mime")
    await post_all(app, "Valve seals", "Night shift")
    # by mail for erin (plain digests), by the command line for bob (MIME)
    await set_delivery_by_mail(app, sink, PLAIN, "regular")
    changed = await listserv_cli("members", "set", "ops@example.com", "bob@example.net",
                           "delivery_mode=regular", env=cli_env)
    assert changed.returncode == 0, changed.stderr
    await app.settle()
    await app.workers.housekeeping(now())
    await app.settle()
    [erin], [bob] = digests_to(sink, PLAIN), digests_to(sink, "bob@example.net")
    assert plain_subjects(erin.message) == ["[ops] Valve seals", "[ops] Night shift"]
    assert attached_subjects(bob.message) == ["[ops] Valve seals", "[ops] Night shift"]
    assert (erin.recipients, bob.recipients) == ([PLAIN], ["bob@example.net"])
    assert digests_to(sink, MIME) == []  # dan's digest is not due, nothing marked sent
    await post_all(app, "Supply boat")
    assert {PLAIN, "bob@example.net"} <= set(sink.recipients())  # regular copies now
    await digests_send(app, cli_env)
    [dan] = digests_to(sink, MIME)
    assert attached_subjects(dan.message) == [
        "[ops] Valve seals", "[ops] Night shift", "[ops] Supply boat"]
    assert len(digests_to(sink, PLAIN)) == len(digests_to(sink, "bob@example.net")) == 1


async def set_delivery_by_mail(app: App, sink: Sink, address: str, mode: str) -> None:
    """Send "set delivery MODE" and answer the confirmation it asks for, as the member."""
    await post(app, make_message(sender=address, to="ops-request@example.com", subject="",
                                 body=f"set delivery {mode}\n"),
               sender=address, recipients=("ops-request@example.com",))
    await app.settle()
    [request] = [d.message for d in sink.to(address)
                 if str(d.message["Subject"]).startswith("confirm")][-1:]
    confirm = str(request["Reply-To"])
    await post(app, make_message(sender=address, to=confirm, body=""), sender=address,
               recipients=(confirm,))
    await app.settle()


async def test_a_member_who_switches_to_digests_gets_only_the_posts_since(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    alice, bob = REGULAR
    await set_member(app, bob, delivery_mode="digest-mime")  # before any post: all along
    await post_all(app, "Valve seals")
    assert len(sink.to(alice)) == 1  # her copy, one by one
    await set_delivery_by_mail(app, sink, alice, "digest-mime")
    await post_all(app, "Night shift")
    assert [d for d in sink.to(alice) if "Night shift" in str(d.message["Subject"])] == []
    await digests_send(app, cli_env)
    [to_alice], [to_bob] = digests_to(sink, alice), digests_to(sink, bob)
    assert attached_subjects(to_alice.message) == ["[ops] Night shift"]
    assert attached_subjects(to_bob.message) == ["[ops] Valve seals", "[ops] Night shift"]
    assert to_bob.recipients == [bob, MIME]  # one digest for each set of posts
    assert to_alice.recipients == [alice]
    for delivered in (to_alice, to_bob):
        assert delivered.message["Subject"] == "Operations Excellence Digest, Vol 1, Issue 1"
    [plain] = digests_to(sink, PLAIN)
    assert plain_subjects(plain.message) == ["[ops] Valve seals", "[ops] Night shift"]


async def test_a_member_back_from_digests_is_owed_only_the_posts_of_the_digest_spell(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    alice = REGULAR[0]
    await post_all(app, "Valve seals")
    await set_member(app, alice, delivery_mode="digest-plain")
    await post_all(app, "Night shift")
    await set_delivery_by_mail(app, sink, alice, "regular")
    await app.workers.housekeeping(now())
    await app.settle()
    [owed] = digests_to(sink, alice)
    assert plain_subjects(owed.message) == ["[ops] Night shift"]
    assert [str(d.message["Subject"]) for d in sink.to(alice)
            if "Digest" not in str(d.message["Subject"]) and d.message["List-Id"]] == [
        "[ops] Valve seals"]


async def test_a_member_back_on_digests_before_the_owed_one_went_out_gets_the_lists(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    bob = REGULAR[1]
    await set_member(app, bob, delivery_mode="digest-mime")
    await post_all(app, "Valve seals")
    await set_member(app, bob, delivery_mode="regular")
    await post_all(app, "Night shift")  # to bob one by one
    await set_member(app, bob, delivery_mode="digest-mime")
    await post_all(app, "Supply boat")
    await digests_send(app, cli_env)
    # Nothing missed; the post of his short regular spell comes twice.
    [digest] = digests_to(sink, bob)
    assert attached_subjects(digest.message) == [
        "[ops] Valve seals", "[ops] Night shift", "[ops] Supply boat"]
    assert digest.recipients == [bob, MIME]


async def test_a_digest_carries_the_list_footer_once(app: App, sink: Sink,
                                                    cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    await post_all(app, "Valve seals")
    await post(app, make_message(subject="Night shift", html="<p>Handover at 06:00</p>"))
    await app.settle()
    await digests_send(app, cli_env)
    [mime], [plain] = digests_to(sink, MIME), digests_to(sink, PLAIN)
    footer = "Leave: ops-leave@example.com"
    texts = [str(part.get_content()) for part in mime.message.walk()
             if part.get_content_type() == "text/plain" and not part.is_multipart()]
    assert sum(text.count(footer) for text in texts) == 1 and footer in texts[-1]
    assert str(plain.message.get_content()).count(footer) == 1


async def test_a_list_that_personalises_sends_digests_with_verp(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app, personalize="verp")
    await post_all(app, "Valve seals")
    await digests_send(app, cli_env)
    [mime] = digests_to(sink, MIME)
    assert mime.mail_from == await verp_address(app, "dan@example.org")


async def test_bad_posts_still_make_a_digest_with_every_post(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app)
    odd = [make_message(subject=""),
           make_message(subject="Zeichensatz").replace(
               b'charset="utf-8"', b"charset=x-unknown").replace(b"Hi all.", b"Gr\xfc\xdfe"),
           b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: No boundary\r\n"
           b"Content-Type: multipart/mixed\r\n\r\nbroken \xff MIME\r\n"]
    for raw in odd:
        await post(app, raw)
        await app.settle()
    await digests_send(app, cli_env)
    [mime], [plain] = digests_to(sink, MIME), digests_to(sink, PLAIN)
    assert attached_subjects(mime.message) == ["[ops] (no subject)", "[ops] Zeichensatz",
                                               "[ops] No boundary"]
    text = str(plain.message.get_content()).replace("\r\n", "\n")
    assert text.count(f"\n\n{RFC1153_SEPARATOR}\n\n") == 4  # three posts and the footer
    assert "broken" in text


async def test_digests_show_prints_what_the_next_digest_would_hold(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup_digest_list(app, digest_hour="6")
    await post_all(app, "Valve seals", "Night shift")
    shown = await listserv_cli("digests", "show", "ops@example.com", env=cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "next digest Operations Excellence Digest, Vol 1, Issue 1" in shown.stdout
    assert "   1. [ops] Valve seals (alice@example.org)" in shown.stdout
    assert "digest members: 1 MIME, 1 plain" in shown.stdout
    shown_json = await listserv_cli("digests", "show", "ops@example.com", "--json", env=cli_env)
    data = json.loads(shown_json.stdout)
    assert (data["volume"], data["issue"], data["posts"], data["due"]) == (1, 1, 2, False)
    assert data["next_scheduled_at"].endswith("06:00:00+00:00")
    assert sink.to(MIME) == []  # showing sends nothing
    missing = await listserv_cli("digests", "show", "nope@example.com", env=cli_env)
    assert missing.returncode == 1 and "no such list" in missing.stderr


async def test_posts_are_kept_with_their_digest_form_and_older_ones_are_read_at_send(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    """A post is read for the digest once, when it is kept; one kept before that (its
    digest form empty, migration 0021) still goes out the same way, footer off."""
    await setup_digest_list(app)
    # An attachment named with an encoded NUL: the plain digest's note on it holds one,
    # which PostgreSQL's text could not.
    await post(app, b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: Valve seals"
               b'\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="q"\r\n\r\n'
               b"--q\r\nContent-Type: text/plain\r\n\r\nSee the drawing.\r\n--q\r\n"
               b"Content-Type: application/pdf\r\nContent-Disposition: attachment; "
               b"filename*=utf-8''a%00b.pdf\r\n\r\ndata\r\n--q--\r\n")
    await post(app, make_message(subject="Night shift", html="<p>Handover at 06:00</p>"))
    await app.settle()
    async with app.sessions.begin() as session:
        kept = (await session.execute(select(
            DigestItem.digest_subject, DigestItem.digest_author, DigestItem.digest_text)
            .order_by(DigestItem.id))).all()
        assert [(subject, author) for subject, author, _ in kept] == [
            ("[ops] Valve seals", "alice@example.org"),
            ("[ops] Night shift", "alice@example.org")]
        assert '"a\x00b.pdf", application/pdf' in kept[0][2]
        assert all("Leave: ops-leave@example.com" not in text for *_, text in kept)
        await session.execute(update(DigestItem).where(DigestItem.id == select(
            func.max(DigestItem.id)).scalar_subquery()).values(
            digest_subject=None, digest_author=None, digest_text=None, digest_body=None,
            digest_listed=None))
    await digests_send(app, cli_env)
    [mime], [plain] = digests_to(sink, MIME), digests_to(sink, PLAIN)
    assert attached_subjects(mime.message) == ["[ops] Valve seals", "[ops] Night shift"]
    assert plain_subjects(plain.message) == ["[ops] Valve seals", "[ops] Night shift"]
    for message in (mime.message, plain.message):
        texts = [str(part.get_content()) for part in message.walk()
                 if part.get_content_type() == "text/plain" and not part.is_multipart()]
        assert sum(text.count("Leave: ops-leave@example.com") for text in texts) == 1
    text = str(plain.message.get_content())
    assert "See the drawing." in text and '"a\x00b.pdf"' in text and "Hi all." in text


async def test_a_post_to_a_list_without_digest_members_is_not_read_for_digests(
        app: App, sink: Sink) -> None:
    await setup_list(app, MEMBERS, footer="Leave: {unsubscribe_address}")
    await post_all(app, "Valve seals")
    await set_member(app, MIME, delivery_mode="digest-mime")
    await post_all(app, "Night shift")
    async with app.sessions.begin() as session:
        kept = (await session.scalars(select(DigestItem.digest_subject)
                                      .order_by(DigestItem.id))).all()
    assert kept == [None, "[ops] Night shift"]
