# SPDX-License-Identifier: Apache-2.0
"""DMARC mitigation end to end: a DNS responder on loopback, posts in, list mail out."""

from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import getaddresses

import pytest
from sqlalchemy import select

from listserv.app import App
from listserv.db.models import ArchivedMessage
from listserv.settings import Settings
from tests.dns import Responder, start_responder
from tests.sink import Sink
from tests.test_moderation import (
    MODERATOR,
    notices_to,
    reply_address,
    send_reply,
    setup_moderated_list,
)
from tests.test_post_path import MEMBERS, list_mail, post, setup_list

RECORDS = {
    "_dmarc.strict.example": ["v=DMARC1; p=reject"],
    "_dmarc.lenient.example": ["v=DMARC1; p=none"],
    "_dmarc.example.net": ["v=DMARC1; p=quarantine"],
    "_dmarc.double.example": ["v=DMARC1; p=reject", "v=DMARC1; p=reject; pct=100"],
    "_dmarc.broken.example": ["v=DMARC1; p=rejection; sp=reject"],
    "_dmarc.xn--bcher-kva.example": ["v=DMARC1; p=reject"],
}
OPEN = {"nonmember_action": "accept"}  # authors from any domain may post


@pytest.fixture
async def responder() -> AsyncIterator[Responder]:
    server = await start_responder(RECORDS)
    yield server
    server.close()


@pytest.fixture
def settings(settings: Settings, responder: Responder) -> Settings:
    return settings.model_copy(update={"dns_nameserver": ("127.0.0.1", responder.port)})


def raw_post(author: str, subject: str = "Valves") -> bytes:
    return (f"From: Alice Author <{author}>\r\nTo: ops@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}.{author}>\r\n"
            "DKIM-Signature: v=1; a=rsa-sha256; d=strict.example; s=s; b=abc\r\n"
            "\r\nThe valves leak.\r\n").encode()


async def sent(app: App, sink: Sink, author: str, **settings: str) -> EmailMessage:
    await setup_list(app, MEMBERS, **OPEN, **settings)
    await post(app, raw_post(author), sender="bounces@example.org")
    await app.settle()
    [delivered] = list_mail(sink)
    return delivered.message


def addresses(message: EmailMessage, name: str) -> list[str]:
    return [address for _, address in getaddresses([str(v) for v in message.get_all(name, [])])]


def is_munged(message: EmailMessage) -> bool:
    return addresses(message, "From") == ["ops@example.com"]


async def test_a_post_from_a_reject_domain_goes_out_from_the_list(app: App, sink: Sink) -> None:
    message = await sent(app, sink, "alice@strict.example")
    assert str(message["From"]) == \
        "Alice Author via Operations Excellence <ops@example.com>"
    assert addresses(message, "Reply-To") == ["alice@strict.example"]
    assert str(message["X-Original-From"]) == "Alice Author <alice@strict.example>"
    assert message["DKIM-Signature"] is None
    assert str(message["Subject"]) == "[ops] Valves"


async def test_the_archive_keeps_the_real_author(app: App, sink: Sink) -> None:
    await sent(app, sink, "alice@strict.example")
    async with app.sessions() as session:
        [archived] = (await session.scalars(select(ArchivedMessage))).all()
    assert archived.author_address == "alice@strict.example"
    assert b"From: Alice Author <alice@strict.example>" in archived.raw
    assert b"X-Original-From" not in archived.raw


async def test_with_wrap_the_post_goes_out_attached_to_a_list_message(
        app: App, sink: Sink) -> None:
    message = await sent(app, sink, "alice@strict.example", dmarc_mitigation="wrap")
    assert is_munged(message)
    assert str(message["List-Id"]) == "Operations Excellence <ops.example.com>"
    [inner] = [part for part in message.walk() if part.get_content_type() == "message/rfc822"]
    [original] = inner.iter_parts()
    assert str(original["From"]) == "Alice Author <alice@strict.example>"
    assert str(original["Subject"]) == "Valves"
    assert "d=strict.example" in str(original["DKIM-Signature"])


async def test_a_held_post_approved_by_a_moderator_is_mitigated_too(
        app: App, sink: Sink) -> None:
    await setup_moderated_list(app)  # nonmembers are held
    await post(app, raw_post("boss@strict.example", "Partnership"), sender="boss@strict.example")
    await app.settle()
    [notice] = notices_to(sink, MODERATOR)
    await send_reply(app, reply_address(notice), "approve")
    [released] = [d.message for d in list_mail(sink) if "Partnership" in str(d.message["Subject"])]
    assert is_munged(released)
    assert addresses(released, "Reply-To") == ["boss@strict.example"]
    async with app.sessions() as session:
        [archived] = (await session.scalars(select(ArchivedMessage))).all()
    assert archived.author_address == "boss@strict.example"


@pytest.mark.parametrize(("author", "list_settings", "munged"), [
    ("alice@lenient.example", {}, False),
    ("alice@lenient.example", {"dmarc_mitigate_none": "true"}, True),
    ("alice@nothing.example", {"dmarc_mitigate_none": "true"}, False),
    ("alice@nothing.example", {"dmarc_always": "nothing.example"}, True),
    ("alice@sub.example.net", {}, True),  # _dmarc only at the organisational domain
    ("alice@double.example", {}, False),  # two records: no policy (RFC 7489 6.6.3)
    ("alice@broken.example", {}, False),  # no valid p=
    ("alice@strict.example", {"dmarc_mitigation": "none"}, False),
])
async def test_mitigation_follows_the_policy_and_the_list(
        app: App, sink: Sink, author: str, list_settings: dict[str, str],
        munged: bool) -> None:
    assert is_munged(await sent(app, sink, author, **list_settings)) is munged


@pytest.mark.parametrize(("fault", "on_failure", "munged"), [
    ("servfail", "mitigate", True),
    ("servfail", "none", False),
    ("silent", "mitigate", True),
    ("silent", "none", False),
])
async def test_a_failed_lookup_is_treated_per_list_setting(
        app: App, sink: Sink, responder: Responder, fault: str, on_failure: str,
        munged: bool) -> None:
    setattr(responder, fault, True)
    message = await sent(app, sink, f"alice@{fault}-{on_failure}.example",
                         dmarc_on_dns_failure=on_failure)
    assert is_munged(message) is munged


async def test_lookups_are_cached(app: App, sink: Sink, responder: Responder) -> None:
    await setup_list(app, MEMBERS, **OPEN)
    for subject in ("One", "Two", "Three"):
        await post(app, raw_post("alice@cached.example", subject), sender="b@example.org")
        await post(app, raw_post("bob@strict.example", subject), sender="b@example.org")
    await app.settle()
    assert len(list_mail(sink)) == 6
    assert responder.queries["_dmarc.cached.example"] == 1
    assert responder.queries["_dmarc.strict.example"] == 1


async def test_an_internationalised_domain_is_looked_up_in_idna(app: App, sink: Sink,
                                                                 responder: Responder) -> None:
    await setup_list(app, MEMBERS, **OPEN)
    raw = raw_post("j@bücher.example").replace(b"Alice Author", "Jörg".encode())
    await post(app, raw, sender="j@example.org")
    await app.settle()
    [delivered] = list_mail(sink)
    assert is_munged(delivered.message)
    assert responder.queries["_dmarc.xn--bcher-kva.example"] == 1


async def test_a_post_whose_from_has_no_address_is_not_looked_up(
        app: App, sink: Sink, responder: Responder) -> None:
    await setup_list(app, MEMBERS, **OPEN, require_explicit_destination="false")
    raw = raw_post("x").replace(b"Alice Author <x>", b"undisclosed-recipients:;")
    await post(app, raw, sender="b@example.org")
    await app.settle()
    assert not responder.queries
