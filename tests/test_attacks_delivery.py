# SPDX-License-Identifier: Apache-2.0
"""A smarthost's refusal of the message, or of SMTPUTF8, against real SMTP on loopback:
the members it concerns fail for the right reason, nobody's bounce score moves, the owners
hear of it once, and everyone else gets the post (issue #14, parts 6 and 7)."""

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from listserv.app import App, running
from listserv.core.addresses import parse_address
from listserv.core.policy import DeliveryStatus, Role
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.models import (
    BounceEvent,
    DeliveryJob,
    DeliveryRecipient,
    Member,
    RecipientState,
    now,
)
from listserv.settings import Settings
from tests.helpers import make_message, run_listserv
from tests.sink import Sink, start_sink
from tests.test_post_path import MEMBERS, list_mail, post, setup_list

OWNER = "olga@example.org"
JURGEN = "jürgen@müller.example"
FILTERED = "554 5.6.0 Transaction failed: message content"


async def setup(app: App, members: Sequence[str] = MEMBERS, role: Role = Role.OWNER,
                **settings: str) -> None:
    """The list with its members, an owner, and bounces that disable at the first point."""
    await setup_list(app, list(members), bounce_score_threshold="1", **settings)
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        await db_members.add_member(session, mlist, parse_address(OWNER), role=Role.OWNER)
        if role is not Role.OWNER:
            await db_members.add_member(session, mlist, parse_address(JURGEN), role=role)


def message_id(raw: bytes) -> str:
    return raw.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()


def refusing(raw: bytes, reply: str) -> Callable[[EmailMessage], str | None]:
    """A content filter: DATA of this message gets the reply."""
    return lambda message: reply if message["Message-ID"] == message_id(raw) else None


async def post_one(app: App, subject: str) -> None:
    """Post as alice and wait until it is delivered (or not)."""
    await post(app, make_message(subject=subject))
    await app.settle()


def list_recipients(sink: Sink) -> list[str]:
    return sorted(r for d in list_mail(sink) for r in d.recipients)


async def rows(app: App) -> tuple[list[Member], list[DeliveryRecipient], list[BounceEvent]]:
    """The members, the recipients of posts (not of notices), the bounce events."""
    async with app.sessions() as session:
        return (list((await session.scalars(select(Member))).all()),
                list((await session.scalars(select(DeliveryRecipient).join(DeliveryJob).where(
                    DeliveryJob.kind == "post"))).all()),
                list((await session.scalars(select(BounceEvent))).all()))


def owner_notices(sink: Sink, marker: str) -> list[EmailMessage]:
    return [d.message for d in sink.to(OWNER) if marker in str(d.message["Subject"])]


@pytest.mark.parametrize("personalize", ["none", "verp"])
async def test_a_post_refused_at_data_fails_for_good_scores_nobody_and_tells_the_owners_once(
        settings: Settings, sink: Sink, personalize: str) -> None:
    async with running(settings.model_copy(
            update={"max_recipients_per_transaction": 2})) as app:
        await setup(app, personalize=personalize)
        raw = make_message(subject="Quarterly figures")
        sink.data_fault = refusing(raw, FILTERED)
        await post(app, raw)
        await app.settle()
        assert len(sink.refused) >= 2 and list_mail(sink) == []  # every transaction refused
        members, recipients, events = await rows(app)
        assert {(r.state, r.last_code) for r in recipients} == {(RecipientState.FAILED, 554)}
        assert all(FILTERED.removeprefix("554 ") in (r.last_error or "") for r in recipients)
        assert [(m.bounce_score, m.delivery_status) for m in members] == \
            [(0.0, DeliveryStatus.ENABLED)] * len(members)
        assert events == []
        [told] = owner_notices(sink, "The smarthost refused: [ops] Quarterly figures")
        body = told.get_body(("plain",)).get_content()
        assert message_id(raw) in body and FILTERED in body
        await post_one(app, "Next week")  # nobody lost the next post
        assert list_recipients(sink) == sorted([*MEMBERS, OWNER])


async def test_a_temporary_refusal_at_data_is_retried_for_everyone(
        settings: Settings, sink: Sink, cli_env: dict[str, str]) -> None:
    sink.data_fault = lambda message: "451 4.3.0 Try again later"
    async with running(settings.model_copy(update={"retry_initial_seconds": 3600})) as app:
        await setup(app)
        await post_one(app, "Shift plan")
        members, recipients, _ = await rows(app)
        assert {(r.state, r.last_code) for r in recipients} == {(RecipientState.PENDING, 451)}
        assert {m.bounce_score for m in members} == {0.0} and sink.to(OWNER) == []
        sink.data_fault = None
        retried = run_listserv("queue", "retry", env=cli_env)
        assert retried.returncode == 0, retried.stderr
        await sink.wait_for(lambda: len(sink.recipients()) == len(MEMBERS) + 1)


async def test_a_post_deferred_at_data_until_retrying_gives_up_scores_nobody(
        settings: Settings, sink: Sink) -> None:
    sink.data_fault = lambda message: "451 4.3.0 Try again later" if message["List-Id"] else None
    quick = {"retry_initial_seconds": 1, "retry_max_seconds": 2}
    async with running(settings.model_copy(update=quick)) as app:
        await setup(app)
        await post_one(app, "Old news")
        async with app.sessions.begin() as session:
            (await session.scalars(select(DeliveryJob))).one().created_at -= timedelta(hours=121)
        await sink.wait_for(lambda: bool(owner_notices(sink, "The smarthost refused")))
        members, recipients, _ = await rows(app)
    assert {r.state for r in recipients} == {RecipientState.FAILED}
    assert {m.bounce_score for m in members} == {0.0}


@pytest.fixture
async def utf8_sink() -> AsyncIterator[Sink]:
    recorder, server = await start_sink(smtputf8=True)
    yield recorder
    server.close()


async def test_utf8_members_get_their_own_transaction_with_smtputf8_where_it_is_offered(
        settings: Settings, utf8_sink: Sink) -> None:
    members = [*MEMBERS, JURGEN, "bob@bücher.example"]
    async with running(settings.model_copy(
            update={"smarthost": ("127.0.0.1", utf8_sink.port)})) as app:
        await setup(app, members)
        await post_one(app, "Grüße")
    transactions = sorted((d.smtputf8, sorted(d.recipients)) for d in utf8_sink.delivered)
    assert transactions == [
        (False, sorted([*MEMBERS, OWNER, "bob@xn--bcher-kva.example"])),  # an A-label
        (True, ["jürgen@xn--mller-kva.example"])]


async def test_without_smtputf8_only_the_utf8_member_fails_and_scores_nothing(
        app: App, sink: Sink) -> None:
    await setup(app, [*MEMBERS, JURGEN, "bob@bücher.example"])
    for subject in ("First", "Second"):
        await post_one(app, subject)
    assert list_recipients(sink) == sorted([*MEMBERS, OWNER, "bob@xn--bcher-kva.example"] * 2)
    assert not any(d.smtputf8 for d in sink.delivered)
    members, recipients, events = await rows(app)
    assert {(r.state, r.last_code) for r in recipients if r.address == JURGEN} == {
        (RecipientState.FAILED, 553)}
    assert all("needs SMTPUTF8" in (r.last_error or "") for r in recipients
               if r.address == JURGEN)
    assert {(m.bounce_score, m.delivery_status) for m in members} == {
        (0.0, DeliveryStatus.ENABLED)}
    assert {(e.address, e.kind, e.status) for e in events} == {(JURGEN, "policy", "5.6.7")}
    await app.workers.housekeeping(now())
    await app.settle()
    [summary] = owner_notices(sink, "Delivery problems")
    assert summary.get_content().count(f"{JURGEN} policy 5.6.7 553 5.6.7 not sent") == 2


async def test_a_notice_to_staff_reaches_the_ascii_moderators_without_smtputf8(
        app: App, sink: Sink) -> None:
    await setup(app, role=Role.MODERATOR)
    await post(app, make_message(sender="boss@partner.example", subject="Offer"),
               sender="boss@partner.example")
    await app.settle()
    [notice] = [d for d in sink.delivered if "Held" in str(d.message["Subject"])]
    assert notice.recipients == [OWNER]
    async with app.sessions() as session:
        failed = (await session.scalars(select(DeliveryRecipient).where(
            DeliveryRecipient.address == JURGEN))).all()
    assert [(r.state, r.last_code) for r in failed] == [(RecipientState.FAILED, 553)]
