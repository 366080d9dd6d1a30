# SPDX-License-Identifier: Apache-2.0
"""Internationalised mail (RFC 6530-6533) end to end over real SMTP on loopback: UTF-8
envelopes only with SMTPUTF8, members and lists with UTF-8 local parts and IDN domains
kept in Unicode and matched by their A-labels, and UTF-8 headers through decoration,
the archive, its pages and a digest."""

import html
import json
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import make_msgid

import aiosmtplib
import httpx
import pytest
from sqlalchemy import select

from listserv.app import App, running
from listserv.core import urls
from listserv.db.models import ArchivedMessage, BounceEvent, Inbound, Member, now
from listserv.settings import Settings
from tests.helpers import listserv_cli
from tests.sink import Delivered, Sink, start_sink
from tests.test_post_path import list_mail
from tests.web.members import SITE, browser_like, hidden

LIST = "ops@example.com"
IDN_LIST, IDN_LIST_A = "ops@пример.рф", "ops@xn--e1afmkfd.xn--p1ai"
JURGEN, JURGEN_A = "jürgen@müller.example", "jürgen@xn--mller-kva.example"
ALICE, OWNER = "alice@example.org", "olga@example.org"


@pytest.fixture
async def utf8_sink() -> AsyncIterator[Sink]:
    """A smarthost that offers SMTPUTF8."""
    recorder, server = await start_sink(smtputf8=True)
    yield recorder
    server.close()


@pytest.fixture(params=[True, False], ids=["smtputf8", "ascii-only"])
async def either_sink(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Sink, bool]]:
    """A smarthost that offers SMTPUTF8, and one that does not."""
    recorder, server = await start_sink(smtputf8=request.param)
    yield recorder, request.param
    server.close()


def through(settings: Settings, sink: Sink) -> Settings:
    return settings.model_copy(update={"smarthost": ("127.0.0.1", sink.port),
                                       "domains": ["example.com", "пример.рф"]})


def utf8_mail(*, sender: str, to: str, subject: str, body: str = "Hallo zusammen.\n") -> bytes:
    """A message/global as a UTF-8 mail client writes it: raw UTF-8 in its header."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    return message.as_bytes(policy=SMTPUTF8)


async def send(app: App, raw: bytes, sender: str, *recipients: str) -> None:
    """Send with SMTPUTF8 (RFC 6531) and wait until listserv has dealt with it."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        await client.sendmail(sender, list(recipients), raw, mail_options=["SMTPUTF8"])
    await app.settle()


async def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = await listserv_cli(*args, env=env, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def stored_members(app: App) -> dict[str, str]:
    async with app.sessions() as session:
        return {m.address: m.match_key for m in (await session.scalars(select(Member))).all()}


# -- intake -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("sender", "recipient"), [
    (JURGEN, LIST),  # a UTF-8 MAIL FROM
    (ALICE, IDN_LIST),  # a UTF-8 RCPT TO
])
async def test_a_utf8_envelope_without_smtputf8_is_refused_553_5_6_7_and_nothing_is_stored(
        app: App, cli_env: dict[str, str], sender: str, recipient: str) -> None:
    await cli(cli_env, "lists", "create", LIST)
    await cli(cli_env, "lists", "create", IDN_LIST)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port) as client:
        mail = await client.execute_command(f"MAIL FROM:<{sender}>".encode())
        rcpt = await client.execute_command(f"RCPT TO:<{recipient}>".encode())
        refused = rcpt if mail.code == 250 else mail
        assert (refused.code, refused.message.split()[0]) == (553, "5.6.7")
        assert "SMTPUTF8" in refused.message
        await client.rset()
        # The same list by its A-label needs no SMTPUTF8.
        await client.sendmail(ALICE, [IDN_LIST_A], b"Subject: plain\r\n\r\nHi.\r\n")
    async with app.sessions() as session:
        assert [row.recipient for row in (await session.scalars(select(Inbound))).all()] == [
            IDN_LIST_A]


# -- members and lists in Unicode ---------------------------------------------------------------

async def test_a_utf8_member_subscribes_by_mail_with_smtputf8_and_gets_the_post(
        settings: Settings, utf8_sink: Sink, cli_env: dict[str, str]) -> None:
    async with running(through(settings, utf8_sink)) as app:
        await cli(cli_env, "lists", "create", LIST, "--owner", OWNER)
        await cli(cli_env, "members", "add", LIST, ALICE)
        # His mail program writes his domain in A-labels; he is one member all the same.
        await send(app, utf8_mail(sender=f"Jürgen Müller <{JURGEN_A}>",
                                  to="ops-request@example.com", subject="subscribe"),
                   JURGEN_A, "ops-request@example.com")
        [confirm] = [d for d in utf8_sink.to(JURGEN_A) if "confirm" in str(d.message["Subject"])]
        assert confirm.smtputf8
        await send(app, utf8_mail(sender=JURGEN, to=str(confirm.message["Reply-To"]),
                                  subject=f"Re: {confirm.message['Subject']}", body=""),
                   JURGEN, str(confirm.message["Reply-To"]))
        assert (await stored_members(app))[JURGEN] == JURGEN_A
        listed = await cli(cli_env, "members", "list", LIST)
        assert JURGEN in listed
        utf8_sink.delivered.clear()
        await send(app, utf8_mail(sender=ALICE, to=LIST, subject="Schichtplan"), ALICE, LIST)
    [post] = [d for d in list_mail(utf8_sink) if JURGEN_A in d.recipients]
    assert post.smtputf8 and post.recipients == [JURGEN_A]
    assert str(post.message["Subject"]) == "[ops] Schichtplan"


async def test_a_list_on_an_idn_domain_takes_a_post_by_its_a_label_and_its_u_label(
        settings: Settings, utf8_sink: Sink, cli_env: dict[str, str]) -> None:
    async with running(through(settings, utf8_sink)) as app:
        assert (await cli(cli_env, "lists", "create", IDN_LIST_A)).strip() == \
            f"created {IDN_LIST}"
        await cli(cli_env, "members", "add", IDN_LIST, ALICE, JURGEN_A)
        assert (await cli(cli_env, "lists", "list")).split("\t")[0] == IDN_LIST
        shown = json.loads(await cli(cli_env, "lists", "show", IDN_LIST_A, "--json"))
        assert shown["address"] == IDN_LIST
        for address, subject in ((IDN_LIST_A, "By A-label"), (IDN_LIST, "By U-label")):
            await send(app, utf8_mail(sender=ALICE, to=address, subject=subject), ALICE, address)
    posts = list_mail(utf8_sink)
    assert sorted(str(d.message["Subject"]) for d in posts if ALICE in d.recipients) == [
        "[ops] By A-label", "[ops] By U-label"]
    assert sorted(str(d.message["Subject"]) for d in posts if JURGEN_A in d.recipients) == [
        "[ops] By A-label", "[ops] By U-label"]
    # The list's own addresses go out in A-labels: an ASCII member needs no SMTPUTF8 for
    # them (the post written to the U-label has it in its To: that one goes with SMTPUTF8).
    to_alice = {str(d.message["Subject"]): d for d in posts if ALICE in d.recipients}
    assert {d.mail_from for d in to_alice.values()} == {"ops-bounces@xn--e1afmkfd.xn--p1ai"}
    assert str(to_alice["[ops] By A-label"].message["List-Post"]) == \
        f"<mailto:{IDN_LIST_A}>"
    assert [to_alice[f"[ops] By {label}"].smtputf8 for label in ("A-label", "U-label")] == [
        False, True]


async def test_an_imported_roster_is_kept_in_unicode_and_only_utf8_members_need_smtputf8(
        settings: Settings, cli_env: dict[str, str], either_sink: tuple[Sink, bool]) -> None:
    sink, smtputf8 = either_sink
    roster = f"{ALICE}\nJürgen Müller,{JURGEN_A}\nbob@xn--bcher-kva.example\n"
    async with running(through(settings, sink)) as app:
        await cli(cli_env, "lists", "create", LIST, "--owner", OWNER)
        await cli(cli_env, "members", "import", LIST, "-", stdin=roster)
        assert await stored_members(app) == {
            OWNER: OWNER, ALICE: ALICE, JURGEN: JURGEN_A,
            "bob@bücher.example": "bob@xn--bcher-kva.example"}
        await send(app, utf8_mail(sender=ALICE, to=LIST, subject="Grüße"), ALICE, LIST)
        await app.workers.housekeeping(now())
        await app.settle()
        async with app.sessions() as session:
            scores = {m.address: m.bounce_score
                      for m in (await session.scalars(select(Member))).all()}
            events = [(e.address, e.kind) for e in (await session.scalars(
                select(BounceEvent))).all()]
    got = sorted(r for d in list_mail(sink) for r in d.recipients)
    ascii_members = [ALICE, "bob@xn--bcher-kva.example", OWNER]
    assert got == sorted([*ascii_members, *([JURGEN_A] if smtputf8 else [])])
    assert set(scores.values()) == {0.0}
    assert events == ([] if smtputf8 else [(JURGEN, "policy")])
    told = [d for d in sink.to(OWNER) if "Delivery problems" in str(d.message["Subject"])]
    assert len(told) == (0 if smtputf8 else 1)


async def test_the_subscribe_form_of_an_idn_list_takes_a_utf8_address(
        settings: Settings, utf8_sink: Sink, cli_env: dict[str, str]) -> None:
    form = urls.subscribe_path(IDN_LIST_A)
    async with running(through(settings, utf8_sink).model_copy(update={"base_url": SITE})) \
            as app, browser_like(app) as web:
        await cli(cli_env, "lists", "create", IDN_LIST)
        page = await web.get(form)
        # A browser's type="email" refuses a UTF-8 local part (HTML's "valid e-mail address").
        assert IDN_LIST in page.text and 'type="email"' not in page.text
        answer = await web.post(form, headers={"X-Forwarded-For": "192.0.2.7"}, data={
            "csrf": hidden(page.text, "csrf"), "email": JURGEN, "delivery": "regular"})
        assert answer.status_code == 200, answer.text
        assert f"{JURGEN} was sent a message" in html.unescape(answer.text)
        await app.settle()
    [confirm] = [d for d in utf8_sink.to(JURGEN_A) if "confirm" in str(d.message["Subject"])]
    assert confirm.smtputf8


# -- UTF-8 headers ------------------------------------------------------------------------------

async def test_utf8_headers_pass_decoration_the_archive_its_pages_and_a_digest(
        settings: Settings, utf8_sink: Sink, cli_env: dict[str, str]) -> None:
    subject = "Grüße aus Köln — Prüfstand"
    async with running(through(settings, utf8_sink)) as app:
        await cli(cli_env, "lists", "create", LIST)
        await cli(cli_env, "lists", "set", LIST, "subject_prefix=[Betrieb·ops]",
                  "footer=Abmelden: {unsubscribe_address} — danke", "archive_visibility=public")
        await cli(cli_env, "members", "add", LIST, ALICE, JURGEN, "erin@example.net")
        await cli(cli_env, "members", "set", LIST, "erin@example.net",
                  "delivery_mode=digest-plain")
        await cli(cli_env, "members", "set", LIST, JURGEN, "delivery_mode=digest-mime")
        await send(app, utf8_mail(sender=f"Jürgen Müller <{JURGEN}>", to=LIST, subject=subject,
                                  body="Die Prüfung läuft.\n"), JURGEN, LIST)
        [post] = [d for d in list_mail(utf8_sink) if ALICE in d.recipients]
        assert str(post.message["Subject"]) == f"[Betrieb·ops] {subject}"
        assert post.smtputf8 and header(post, "From") == f"Jürgen Müller <{JURGEN}>"
        text = post.message.get_body(("plain",)).get_content()
        assert "Die Prüfung läuft." in text and "— danke" in text
        async with app.sessions() as session:
            archived = (await session.scalars(select(ArchivedMessage))).one()
        assert archived.subject == f"[Betrieb·ops] {subject}"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as web:
            listing = await web.get(urls.list_path(LIST))
            thread = await web.get(urls.message_path(LIST, archived.message_id))
        assert listing.status_code == thread.status_code == 200
        assert subject in listing.text and "Die Prüfung läuft." in thread.text
        assert "Jürgen Müller" in thread.text
        await cli(cli_env, "digests", "send", LIST)
        await app.settle()
    plain = [d for d in utf8_sink.to("erin@example.net") if "Digest" in str(d.message["Subject"])]
    mime = [d for d in utf8_sink.to(JURGEN_A) if "Digest" in str(d.message["Subject"])]
    assert subject in plain[0].message.get_content()
    assert "Die Prüfung läuft." in plain[0].message.get_content()
    assert mime[0].smtputf8 and _attached_subject(mime[0]) == f"[Betrieb·ops] {subject}"


def header(delivered: Delivered, name: str) -> str:
    """A header field of a message/global as its UTF-8 reads (the parser escapes its octets)."""
    return str(delivered.message[name]).encode("utf-8", "surrogateescape").decode("utf-8")


def _attached_subject(delivered: Delivered) -> str:
    _, digest, *_ = delivered.message.iter_parts()
    [part] = digest.iter_parts()
    return str(part.get_content()["Subject"])
