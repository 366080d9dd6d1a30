# SPDX-License-Identifier: Apache-2.0
"""Attacks on bounce processing over SMTP: forged reports and forged VERP tags must not
disable or remove anyone."""

from sqlalchemy import select

from listserv.app import App
from listserv.core import verp
from listserv.core.bouncing import PROBES_PER_REPORT
from listserv.core.policy import DeliveryStatus
from listserv.core.tokens import unsubscribe_token
from listserv.db.models import BounceEvent, Member, now
from tests.core.test_bounces import arf, block, dsn
from tests.helpers import verp_address
from tests.sink import Sink
from tests.test_bounces import (
    BOB,
    OWNER,
    a_day_passes,
    bounce,
    events,
    mail_to,
    member,
    probes,
    setup,
)
from tests.test_post_path import setup_list

MEMBERS = [f"m{number:04d}@example.org" for number in range(1000)]


async def members(app: App) -> list[Member]:
    async with app.sessions() as session:
        return list((await session.scalars(select(Member))).all())


async def test_a_forged_report_naming_a_thousand_members_on_five_days_disables_nobody(
        app: App, sink: Sink) -> None:
    await setup_list(app, MEMBERS, bounce_score_threshold="5")
    forged = dsn(*(block(address.encode()) for address in MEMBERS))  # from <>, 5.1.1 each
    await bounce(app, forged)
    assert len(probes(sink)) == PROBES_PER_REPORT  # the rest only recorded
    await bounce(app, forged)  # the same day: other members, none probed twice
    first_day = [r for probe in probes(sink) for r in probe.recipients]
    assert len(set(first_day)) == len(first_day) == 2 * PROBES_PER_REPORT
    for day in range(2, 6):
        await a_day_passes(app)
        await bounce(app, forged)
        assert len(probes(sink)) == PROBES_PER_REPORT * (day + 1)
    assert {(m.bounce_score, m.delivery_status) for m in await members(app)} == {
        (0.0, DeliveryStatus.ENABLED)}
    assert len(sink.delivered) == len(probes(sink))  # no warning, no goodbye
    async with app.sessions() as session:
        recorded = (await session.scalars(select(BounceEvent))).all()
    assert len(recorded) == 6 * len(MEMBERS)
    assert {(event.source, event.member_id) for event in recorded} == {("dsn", None)}


async def test_forged_and_unsigned_verp_tags_score_nobody(app: App, sink: Sink) -> None:
    await setup(app)
    async with app.sessions() as session:
        carol = await session.scalar(select(Member).where(
            Member.match_key == "carol@example.org"))
    assert carol is not None
    signed = await verp_address(app, BOB)
    forged = [
        signed.replace(signed.rpartition("+")[2].partition("@")[0], "a" * 10),  # guessed
        verp.sender("ops-bounces@example.com", BOB, b"another site's key" * 2, carol.list_id)
        or "",
        verp.sender("ops-bounces@example.com", BOB, app.settings.hmac_key,
                    carol.list_id + 1) or "",  # another list's
        (await verp_address(app, "carol@example.org")).replace(
            "carol=example.org", "bob=example.net"),  # carol's tag
        "ops-bounces+bob=example.net@example.com",  # unsigned, as before signing
    ]
    for to in forged:
        await bounce(app, dsn(block(BOB.encode())), to=to)
    bob = await member(app, BOB)
    assert bob is not None and bob.bounce_score == 0.0
    assert [(event.source, event.member_id) for event in await events(app)] == [
        ("unverified", None)] * len(forged)
    assert len(probes(sink, BOB)) == 1  # hearsay, so a probe: one a day
    await bounce(app, dsn(block(BOB.encode())), to=signed)
    assert (await member(app, BOB)).bounce_score == 1.0  # type: ignore[union-attr]


async def test_forged_complaints_remove_nobody_and_the_owners_hear_of_them(
        app: App, sink: Sink) -> None:
    await setup(app)
    async with app.sessions() as session:
        list_id = (await session.scalars(select(Member.list_id))).first()
    assert list_id is not None
    key = app.settings.hmac_key
    forged_sender = verp.sender("ops-bounces@example.com", BOB, b"another site's key" * 2,
                                list_id)
    assert forged_sender is not None
    copy = (b"Return-Path: <" + forged_sender.encode() + b">\r\nList-Unsubscribe: "
            b"<https://lists.example.com/u/" + unsubscribe_token(key, list_id + 1,
                                                                 BOB).encode() +
            b">\r\nFrom: Alice <alice@example.org>\r\nTo: ops@example.com\r\n"
            b"Subject: [ops] Hi\r\n\r\nHi\r\n")  # a forged tag, another list's token
    for forged in (arf(b"abuse", BOB.encode()), arf(b"opt-out", to=b"carol@example.org"),
                   arf(b"abuse", returned=copy)):
        await bounce(app, forged)
    assert {m.address: m.delivery_status for m in await members(app)} == {
        address: DeliveryStatus.ENABLED
        for address in ("alice@example.org", BOB, "carol@example.org", OWNER)}
    assert mail_to(sink, OWNER, "complaint") == []
    await app.workers.housekeeping(now())
    await app.settle()
    [summary] = mail_to(sink, OWNER, "Delivery problems")
    text = summary.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Complaints (feedback reports) that do not prove" in text
    assert BOB in text and "carol@example.org" in text
