# SPDX-License-Identifier: Apache-2.0
"""Delivery that loses nothing: retries, VERP and personal copies, the retry command."""

import asyncio
from datetime import timedelta

from sqlalchemy import select

from listserv.app import App, running
from listserv.db.models import (
    DeliveryJob,
    DeliveryRecipient,
    JobState,
    Member,
    RecipientState,
)
from listserv.settings import Settings
from tests.helpers import listserv_cli, make_message, verp_address
from tests.sink import Sink
from tests.test_post_path import MEMBERS, post, setup_list

QUICK_RETRY = {"retry_initial_seconds": 1, "retry_max_seconds": 2}


async def test_verp_sends_each_member_a_transaction_of_their_own(app: App, sink: Sink) -> None:
    members = [*MEMBERS, "o'brien+lists@example.ie"]
    await setup_list(app, members, personalize="verp")
    await post(app, make_message())
    await app.settle()
    assert sorted((d.recipients[0], d.mail_from) for d in sink.delivered) == sorted(
        [(member, await verp_address(app, member)) for member in members])
    assert all(len(d.recipients) == 1 for d in sink.delivered)


async def test_full_personalisation_gives_each_member_their_own_footer(
        app: App, sink: Sink) -> None:
    await setup_list(app, personalize="full",
                     footer="You get this as {member_address}. Leave: {unsubscribe_address}")
    await post(app, make_message(body="Which seals do you use?\n"))
    await app.settle()
    assert len(sink.delivered) == len(MEMBERS)
    for delivered in sink.delivered:
        [member] = delivered.recipients
        text = delivered.message.get_body(("plain",)).get_content()
        assert f"You get this as {member}. Leave: ops-leave@example.com" in text
        assert "Which seals do you use?" in text
        assert member in str(delivered.message["List-Unsubscribe"])
        assert delivered.mail_from == await verp_address(app, member)


async def test_verp_probes_go_out_on_a_list_that_asks_for_them(app: App, sink: Sink) -> None:
    await setup_list(app, verp_probe_every="1")
    await post(app, make_message())
    await app.settle()
    assert {d.mail_from for d in sink.delivered} == {
        await verp_address(app, member) for member in MEMBERS}


async def test_a_post_accepted_while_the_smarthost_fails_goes_out_when_it_recovers(
        settings: Settings, sink: Sink) -> None:
    sink.fail_all = True
    async with running(settings.model_copy(update=QUICK_RETRY)) as app:
        await setup_list(app)
        await post(app, make_message(subject="During the outage"))
        await app.settle()
        async with app.sessions() as session:
            [job] = (await session.scalars(select(DeliveryJob))).all()
        assert (job.state, job.attempts) == (JobState.PENDING, 1)
        assert "451" in (job.last_error or "")
        sink.fail_all = False
        await sink.wait_for(lambda: len(sink.recipients()) == len(MEMBERS))
    assert sorted(sink.recipients()) == sorted(MEMBERS)


async def test_a_permanently_refused_recipient_is_not_retried_and_scores_a_bounce(
        app: App, sink: Sink) -> None:
    await setup_list(app, [*MEMBERS, "reject-me@example.org"])
    await post(app, make_message())
    await app.settle()
    async with app.sessions() as session:
        refused = await session.scalar(select(DeliveryRecipient).where(
            DeliveryRecipient.address == "reject-me@example.org"))
        job = await session.get_one(DeliveryJob, refused.job_id if refused else 0)
        member = await session.scalar(select(Member).where(
            Member.match_key == "reject-me@example.org"))
    assert refused is not None and refused.state is RecipientState.FAILED
    assert refused.last_code == 550 and job.state is JobState.DONE
    assert member is not None and member.bounce_score == 1


async def test_queue_retry_sends_waiting_jobs_now(settings: Settings, sink: Sink,
                                                  cli_env: dict[str, str]) -> None:
    sink.fail_all = True
    async with running(settings.model_copy(update={"retry_initial_seconds": 3600})) as app:
        await setup_list(app)
        await post(app, make_message())
        await app.settle()
        sink.fail_all = False
        retried = await listserv_cli("queue", "retry", env=cli_env)
        assert retried.returncode == 0, retried.stderr
        assert "1 delivery job" in retried.stdout
        await sink.wait_for(lambda: len(sink.recipients()) == len(MEMBERS))


async def test_a_job_past_the_give_up_time_fails_for_good(settings: Settings,
                                                          sink: Sink) -> None:
    sink.fail_all = True
    async with running(settings.model_copy(update=QUICK_RETRY)) as app:
        await setup_list(app)
        await post(app, make_message())
        await app.settle()
        async with app.sessions.begin() as session:
            job = (await session.scalars(select(DeliveryJob))).one()
            job.created_at -= timedelta(hours=121)
        async with asyncio.timeout(10):
            while (await _job(app)).state is not JobState.DONE:
                await asyncio.sleep(0.1)
        async with app.sessions() as session:
            recipients = (await session.scalars(select(DeliveryRecipient))).all()
    assert {r.state for r in recipients} == {RecipientState.FAILED}
    assert all("gave up after 121 hours" in (r.last_error or "") for r in recipients)


async def _job(app: App) -> DeliveryJob:
    async with app.sessions() as session:
        return (await session.scalars(select(DeliveryJob))).one()
