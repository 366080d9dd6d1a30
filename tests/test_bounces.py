# SPDX-License-Identifier: Apache-2.0
"""Bounces end to end: DSNs over SMTP to -bounces, signed VERP, probes, scores, disabling,
warnings, complaints."""

import json
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from listserv.app import App, running
from listserv.core.addresses import parse_address
from listserv.core.policy import DeliveryStatus, Role
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.models import BounceEvent, BounceProbe, Inbound, InboundState, Member, now
from listserv.handling import bounces
from listserv.handling.context import unit_of_work
from listserv.settings import Settings
from tests.core.test_bounces import (
    ENTRIES,
    PERSONAL,
    QMAIL,
    VACATION,
    arf,
    as_sent,
    block,
    counted,
    dsn,
    keys,
    listed_verdict,
    named,
    needs_corpus,
)
from tests.helpers import listserv_cli, make_message, verp_address
from tests.sink import Delivered, Sink
from tests.test_post_path import MEMBERS, post, setup_list

OWNER = "olga@example.org"
BOUNCES = "ops-bounces@example.com"
BOB = "bob@example.net"
DMARC = dsn(block(BOB.encode(), b"5.7.1", diagnostic=b"smtp; 550 5.7.1 Unauthenticated email "
                  b"from example.org is not accepted due to domain's DMARC policy"))


async def setup(app: App, **settings: str) -> None:
    await setup_list(app, **settings)
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        await db_members.add_member(session, mlist, parse_address(OWNER), role=Role.OWNER)


async def bounce(app: App, raw: bytes, to: str = BOUNCES) -> None:
    """Mail to -bounces from the null sender, as mail systems send their reports."""
    await post(app, raw, sender="", recipients=(to,))
    await app.settle()


async def member(app: App, address: str) -> Member | None:
    async with app.sessions() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        return await db_members.find_member(session, mlist, parse_address(address).key)


async def events(app: App) -> list[BounceEvent]:
    async with app.sessions() as session:
        return list((await session.scalars(select(BounceEvent).order_by(BounceEvent.id))).all())


async def a_day_passes(app: App) -> None:
    """Move every member's last counted bounce and every probe a day back (processing reads
    the real clock)."""
    async with app.sessions.begin() as session:
        for moved in await session.scalars(select(Member).where(
                Member.last_bounce_at.is_not(None))):
            assert moved.last_bounce_at is not None
            moved.last_bounce_at -= timedelta(days=1)
        for probe in await session.scalars(select(BounceProbe)):
            probe.sent_at -= timedelta(days=1)


async def verp_bounce(app: App, address: str, raw: bytes | None = None) -> None:
    """A report to the member's signed VERP address: listserv mailed them, it bounced."""
    await bounce(app, raw or dsn(block(address.encode())), to=await verp_address(app, address))


def probes(sink: Sink, address: str | None = None) -> list[Delivered]:
    """The probes the smarthost was given (to address, where given)."""
    return [d for d in sink.delivered if "Delivery check" in str(d.message["Subject"])
            and (address is None or address in d.recipients)]


def mail_to(sink: Sink, address: str, subject: str) -> list[EmailMessage]:
    return [d.message for d in sink.to(address) if subject in str(d.message["Subject"])]


async def test_a_dsn_to_a_verp_address_raises_that_members_score(app: App, sink: Sink) -> None:
    await setup(app)
    # The report names where bob's mail was forwarded; the VERP address names bob.
    await verp_bounce(app, BOB, dsn(block(b"bob.old@forward.example")))
    bob = await member(app, BOB)
    assert bob is not None and bob.bounce_score == 1.0
    [event] = await events(app)
    assert (event.address, event.kind, event.status, event.source, event.member_id) == (
        BOB, "mailbox", "5.1.1", "verp", bob.id)
    assert (await member(app, "carol@example.org")).bounce_score == 0.0  # type: ignore[union-attr]


async def test_a_plain_dsn_scores_nobody_and_sends_the_named_member_a_probe(
        app: App, sink: Sink) -> None:
    await setup(app)
    await bounce(app, dsn(block(b"carol@example.org", original=b"Carol@Example.org")))
    assert (await member(app, "carol@example.org")).bounce_score == 0.0  # type: ignore[union-attr]
    [probe] = probes(sink)
    async with app.sessions() as session:
        [row] = (await session.scalars(select(Inbound))).all()
        [sent] = (await session.scalars(select(BounceProbe))).all()
    assert (row.state, row.disposition) == (InboundState.DONE, "bounce")
    assert probe.recipients == ["carol@example.org"]
    assert probe.mail_from == await verp_address(app, "carol@example.org", probe=sent.id)
    assert "nothing needs doing" in probe.message.get_content()
    [event] = await events(app)
    assert (event.address, event.kind, event.source, event.member_id) == (
        "Carol@example.org", "mailbox", "dsn", None)


async def test_a_probes_bounce_scores_its_member_once(app: App, sink: Sink) -> None:
    await setup(app)
    await bounce(app, dsn(block(BOB.encode())))
    [probe] = probes(sink, BOB)
    await bounce(app, dsn(block(BOB.encode())), to=probe.mail_from)
    bob = await member(app, BOB)
    assert bob is not None and bob.bounce_score == 1.0
    assert [(e.source, e.member_id) for e in await events(app)] == [
        ("dsn", None), ("probe", bob.id)]
    await a_day_passes(app)
    await bounce(app, dsn(block(BOB.encode())), to=probe.mail_from)  # answered already
    assert (await member(app, BOB)).bounce_score == 1.0  # type: ignore[union-attr]
    assert (await events(app))[-1].source == "unverified"


# Real reports from the corpus: those listserv reads as naming gone addresses, and others.
GONE = [entry for entry in ENTRIES if counted(entry)]
OTHERS = [entry for entry in ENTRIES if not listed_verdict(entry).startswith("counts ")
          or listed_verdict(entry) == "counts nobody"]
SAMPLE = GONE[::25] + OTHERS[::60] + [e for e in GONE if len(counted(e)) > 1][:1]


@needs_corpus
@pytest.mark.parametrize("entry", SAMPLE, ids=lambda entry: entry["file"])
async def test_a_real_report_to_the_plain_address_probes_each_gone_member_once(
        app: App, sink: Sink, entry: dict[str, object]) -> None:
    members = sorted(keys(named(entry) | set(counted(entry))))
    await setup_list(app, members)
    await bounce(app, as_sent(entry))
    assert sorted(r for probe in probes(sink) for r in probe.recipients) == \
        sorted(keys(counted(entry)))
    async with app.sessions() as session:
        assert not [m for m in (await session.scalars(select(Member))).all() if m.bounce_score]


async def test_the_daily_summary_lists_what_proves_nothing_the_probes_and_unreadable_mail(
        app: App, sink: Sink) -> None:
    await setup(app)
    await bounce(app, dsn(block(BOB.encode()) + b"\r\n" + block(b"stranger@example.net")))
    await bounce(app, dsn(block(b"carol@example.org")),
                 to="ops-bounces+carol=example.org+aaaaaaaaaa@example.com")
    await bounce(app, PERSONAL)
    await app.workers.housekeeping(now())
    await app.settle()
    [summary] = mail_to(sink, OWNER, "Delivery problems")
    text = summary.get_content()
    assert "Probes sent: 2." in text
    for line in ("bob@example.net mailbox 5.1.1", "stranger@example.net mailbox 5.1.1",
                 "carol@example.org mailbox 5.1.1",
                 "olga@example.org unrecognised  Re: [ops] Valve seals"):
        assert line in text
    assert "count against nobody" in text


async def test_a_probe_gone_with_the_retention_time_counts_no_more(app: App,
                                                                     sink: Sink) -> None:
    await setup(app)
    await bounce(app, dsn(block(BOB.encode())))
    [probe] = probes(sink, BOB)
    await app.workers.housekeeping(now() + timedelta(days=app.settings.retention_days + 1))
    await bounce(app, dsn(block(BOB.encode())), to=probe.mail_from)
    assert (await member(app, BOB)).bounce_score == 0.0  # type: ignore[union-attr]
    assert (await events(app))[-1].source == "unverified"


async def test_the_smarthosts_refusal_of_a_probe_counts(app: App, sink: Sink) -> None:
    await setup_list(app, ["reject-me@example.org"])
    await bounce(app, dsn(block(b"reject-me@example.org")))
    assert (await member(app, "reject-me@example.org")).bounce_score == 1.0  # type: ignore[union-attr]
    assert [e.source for e in await events(app)] == ["dsn", "smtp"]


async def test_a_member_whose_probes_are_delivered_is_never_scored(app: App, sink: Sink) -> None:
    await setup(app, bounce_score_threshold="2")
    for day in range(5):
        await bounce(app, dsn(block(BOB.encode())))
        await bounce(app, dsn(block(BOB.encode())))  # the same day: no second probe
        assert len(probes(sink, BOB)) == day + 1
        await a_day_passes(app)
    bob = await member(app, BOB)
    assert bob is not None and bob.bounce_score == 0.0
    assert bob.delivery_status is DeliveryStatus.ENABLED


async def test_a_dmarc_rejection_counts_not_and_the_owners_see_it_in_a_daily_summary(
        app: App, sink: Sink) -> None:
    await setup(app)
    await bounce(app, DMARC)
    await verp_bounce(app, BOB, DMARC)
    assert (await member(app, BOB)).bounce_score == 0.0  # type: ignore[union-attr]
    assert [event.kind for event in await events(app)] == ["policy", "policy"]
    await app.workers.housekeeping(now())
    await app.settle()
    [summary] = mail_to(sink, OWNER, "Delivery problems")
    assert summary.get_content().count("bob@example.net policy 5.7.1") == 2
    await bounce(app, DMARC)
    await app.workers.housekeeping(now() + timedelta(hours=1))
    await app.settle()
    assert len(mail_to(sink, OWNER, "Delivery problems")) == 1  # once a day at most


async def test_crossing_the_threshold_disables_delivery_sends_the_warnings_then_removes(
        app: App, sink: Sink) -> None:
    await setup(app, bounce_score_threshold="2", bounce_warnings="2")
    await verp_bounce(app, BOB)
    await verp_bounce(app, BOB)  # the same day: counted once
    assert (await member(app, BOB)).bounce_score == 1.0  # type: ignore[union-attr]
    await a_day_passes(app)
    await verp_bounce(app, BOB)
    bob = await member(app, BOB)
    assert bob is not None and bob.delivery_status is DeliveryStatus.DISABLED_BY_BOUNCE
    [first] = mail_to(sink, BOB, "is off")
    assert "warning 1 of 2" in first.get_content()
    assert "set nomail off" in first.get_content()
    [told] = mail_to(sink, OWNER, "delivery disabled by bounces")
    assert BOB in str(told["Subject"])

    await post(app, make_message(subject="After the bounces"))
    await app.settle()
    assert [d for d in sink.to(BOB) if d.message["List-Id"]] == []  # no list mail for bob

    await app.workers.housekeeping(now() + timedelta(days=6))
    await app.settle()
    assert len(mail_to(sink, BOB, "is off")) == 1
    await app.workers.housekeeping(now() + timedelta(days=7, minutes=1))
    await app.settle()
    second = mail_to(sink, BOB, "is off")[-1]
    assert "warning 2 of 2" in second.get_content() and "removed in 7 days" in \
        second.get_content()
    await app.workers.housekeeping(now() + timedelta(days=14, minutes=2))
    await app.settle()
    assert await member(app, BOB) is None
    assert mail_to(sink, BOB, "You were removed")
    assert mail_to(sink, OWNER, "removed after bounces")


async def test_a_member_who_resumes_delivery_is_neither_warned_nor_removed(
        app: App, sink: Sink) -> None:
    await setup(app, bounce_score_threshold="1")
    await verp_bounce(app, BOB)
    assert len(mail_to(sink, BOB, "is off")) == 1
    await post(app, make_message(sender=BOB, to="ops-request@example.com",
                                 subject="", body="set nomail off\n"),
               sender=BOB, recipients=("ops-request@example.com",))
    await app.settle()
    [request] = mail_to(sink, BOB, "confirm ")
    await post(app, make_message(sender=BOB, to=str(request["Reply-To"]), body=""), sender=BOB,
               recipients=(str(request["Reply-To"]),))
    await app.settle()
    bob = await member(app, BOB)
    assert bob is not None and bob.delivery_status is DeliveryStatus.ENABLED
    assert bob.bounce_score == 0.0
    await app.workers.housekeeping(now() + timedelta(days=30))
    await app.settle()
    assert await member(app, BOB) is not None and len(mail_to(sink, BOB, "is off")) == 1


async def test_owners_are_warned_but_never_removed_and_a_hand_set_status_starts_nothing(
        app: App, sink: Sink) -> None:
    await setup(app, bounce_score_threshold="1", bounce_warnings="0")
    async with app.sessions.begin() as session:
        mlist = await db_lists.get_list(session, "ops@example.com")
        carol = await db_members.get_member(session, mlist, "carol@example.org")
        carol.delivery_status = DeliveryStatus.DISABLED_BY_BOUNCE  # an operator did this
    await verp_bounce(app, OWNER)
    assert (await member(app, OWNER)).delivery_status is \
        DeliveryStatus.DISABLED_BY_BOUNCE  # type: ignore[union-attr]
    for days in (7, 8, 30):
        await app.workers.housekeeping(now() + timedelta(days=days, minutes=1))
        await app.settle()
    assert await member(app, OWNER) is not None and await member(app, "carol@example.org")
    assert len(mail_to(sink, OWNER, "not removed")) == 1
    assert mail_to(sink, "carol@example.org", "") == []


async def test_a_score_no_bounce_raised_for_the_decay_time_starts_again(
        app: App, sink: Sink) -> None:
    await setup(app, bounce_score_decay_days="3")
    await verp_bounce(app, BOB)
    await app.workers.housekeeping(now() + timedelta(days=2))
    assert (await member(app, BOB)).bounce_score == 1.0  # type: ignore[union-attr]
    await app.workers.housekeeping(now() + timedelta(days=3, minutes=1))
    assert (await member(app, BOB)).bounce_score == 0.0  # type: ignore[union-attr]


async def test_unrecognised_mail_is_forwarded_to_the_owners_a_few_a_day_and_kept(
        app: App, sink: Sink) -> None:
    await setup(app)
    for _ in range(bounces.FORWARDS_PER_DAY + 1):
        await bounce(app, PERSONAL)
    forwards = mail_to(sink, OWNER, "Unrecognised bounce")
    assert len(forwards) == bounces.FORWARDS_PER_DAY
    [attached] = [part for part in forwards[0].iter_attachments()
                  if part.get_content_type() == "message/rfc822"]
    assert "Please take me off this list." in attached.get_content().get_content()
    async with app.sessions() as session:
        rows = (await session.scalars(select(Inbound).order_by(Inbound.id))).all()
    assert [row.disposition for row in rows] == ["forwarded"] * bounces.FORWARDS_PER_DAY + [
        "unrecognised"]
    assert all(row.raw for row in rows)


async def test_a_forward_that_comes_back_unrecognised_is_not_forwarded_again(
        app: App, sink: Sink) -> None:
    await setup(app)
    await bounce(app, PERSONAL)
    [forward] = [d for d in sink.to(OWNER)]
    await bounce(app, b"Subject: Returned\r\n\r\nI could not deliver this:\r\n\r\n" + forward.raw)
    assert len(mail_to(sink, OWNER, "Unrecognised bounce")) == 1


async def complaint_about(app: App, sink: Sink, address: str, *, return_path: bool = True,
                          feedback_type: bytes = b"abuse") -> bytes:
    """A mailbox provider's feedback report returning the copy of a post that address got,
    as it lay in the mailbox (with the Return-Path the last MTA added, or without)."""
    await post(app, make_message(subject="Valve seals"))
    await app.settle()
    [copy] = [d for d in sink.to(address) if "Valve seals" in str(d.message["Subject"])]
    mark = b"Return-Path: <" + copy.mail_from.encode() + b">\r\n" if return_path else b""
    return arf(feedback_type, returned=mark + copy.raw)


@pytest.mark.parametrize(("action", "left", "status"), [
    ("unsubscribe", False, None),
    ("disable", True, DeliveryStatus.DISABLED_BY_USER),
    ("none", True, DeliveryStatus.ENABLED),
])
async def test_a_complaint_returning_a_members_verp_copy_acts_as_the_list_says(
        app: App, sink: Sink, action: str, left: bool, status: DeliveryStatus) -> None:
    await setup(app, complaint_action=action, personalize="verp")
    report = await complaint_about(app, sink, BOB)
    mailed = len(sink.to(BOB))
    await bounce(app, report)  # to the plain -bounces address, as feedback loops send
    bob = await member(app, BOB)
    assert (bob is not None) is left
    if bob is not None:
        assert bob.delivery_status is status
    [told] = mail_to(sink, OWNER, "complaint")
    assert "abuse" in str(told["Subject"])
    assert len(sink.to(BOB)) == mailed  # someone who complained gets no more mail
    assert await member(app, "carol@example.org") is not None


async def test_a_complaint_returning_a_copy_with_its_one_click_link_proves_its_member(
        settings: Settings, sink: Sink) -> None:
    async with running(settings.model_copy(
            update={"base_url": "https://lists.example.com"})) as app:
        await setup(app)
        await bounce(app, await complaint_about(app, sink, BOB, return_path=False))
        assert await member(app, BOB) is None
        assert await member(app, "carol@example.org") is not None


async def test_a_complaint_to_a_verp_address_names_the_member(app: App, sink: Sink) -> None:
    await setup(app)
    await verp_bounce(app, "carol@example.org", arf(b"abuse"))
    assert await member(app, "carol@example.org") is None
    assert await member(app, BOB) is not None


async def test_a_refusal_at_delivery_counts_and_housekeeping_warns(app: App,
                                                                     sink: Sink) -> None:
    await setup(app, bounce_score_threshold="1")
    async with unit_of_work(app.sessions, app.settings) as work:
        mlist = await db_lists.get_list(work.session, "ops@example.com")
        await bounces.record_refusal(work, mlist.id, BOB, 550, "5.7.1 DMARC policy")
        await bounces.record_refusal(work, mlist.id, "carol@example.org", 550,
                                     "5.1.1 No such user")
    assert (await member(app, BOB)).bounce_score == 0.0  # type: ignore[union-attr]
    carol = await member(app, "carol@example.org")
    assert carol is not None and carol.delivery_status is DeliveryStatus.DISABLED_BY_BOUNCE
    await app.workers.housekeeping(now())
    await app.settle()
    assert mail_to(sink, "carol@example.org", "is off")


SIGNED = "signed:"  # to the signed VERP address of the member after it


BAD_INPUT = {
    "garbage-verp": (dsn(block(b"carol@example.org")), "ops-bounces+%%%=@example.com",
                     "carol@example.org"),
    "non-member": (dsn(block(b"stranger@example.net")), BOUNCES, None),
    "verp-of-a-non-member": (dsn(block(BOB.encode())), SIGNED + "stranger@example.net", None),
    "unsigned-verp": (dsn(block(b"bob.old@forward.example")),
                      "ops-bounces+bob=example.net@example.com", None),
    "bounce-of-a-bounce": (dsn(block(OWNER.encode()), returned=dsn(block(BOB.encode()),
                                                                   boundary=b"in")),
                           BOUNCES, OWNER),
    "qmail": (QMAIL.replace(b"carol@example.net", b"carol@example.org"), BOUNCES,
              "carol@example.org"),
    "vacation": (VACATION, SIGNED + BOB, None),
    "malformed": (b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\n\x00\xff\r\n",
                  BOUNCES, None),
}


@pytest.mark.parametrize(("raw", "to", "probed"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
async def test_bad_input_is_processed_scores_nobody_and_probes_no_wrong_member(
        app: App, sink: Sink, raw: bytes, to: str, probed: str | None) -> None:
    await setup(app)
    if to.startswith(SIGNED):
        to = await verp_address(app, to.removeprefix(SIGNED))
    await bounce(app, raw, to=to)
    async with app.sessions() as session:
        [row] = (await session.scalars(select(Inbound))).all()
        scores = {m.address: m.bounce_score for m in (await session.scalars(select(Member)))}
    assert row.state is InboundState.DONE, row.error
    assert {address for address, score in scores.items() if score} == set()
    assert [d.recipients for d in probes(sink)] == ([[probed]] if probed else [])


async def test_members_list_shows_bounce_score_and_delivery_status(
        app: App, sink: Sink, cli_env: dict[str, str]) -> None:
    await setup(app, bounce_score_threshold="1")
    await verp_bounce(app, BOB)
    result = await listserv_cli("members", "list", "ops@example.com", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    shown = {m["address"]: m for m in json.loads(result.stdout)}
    assert (shown[BOB]["bounce_score"], shown[BOB]["delivery_status"]) == (
        1.0, "disabled-by-bounce")
    assert (shown[MEMBERS[0]]["bounce_score"], shown[MEMBERS[0]]["delivery_status"]) == (
        0.0, "enabled")
