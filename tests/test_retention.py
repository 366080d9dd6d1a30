# SPDX-License-Identifier: Apache-2.0
"""Retention: after LISTSERV_RETENTION_DAYS processed mail loses its body and finished
deliveries go; what is still under way, the archive and duplicate detection stay."""

from datetime import timedelta

from sqlalchemy import func, select

from listserv.app import App
from listserv.db.models import (
    ArchivedMessage,
    DeliveryJob,
    DeliveryRecipient,
    HeldMessage,
    InboundState,
    JobState,
    NoticeLog,
    PendingConfirmation,
    now,
)
from tests import test_subscriptions as subscriptions
from tests.helpers import make_message
from tests.sink import Sink
from tests.test_post_path import MEMBERS, inbound_rows, post, setup_list

RETENTION = timedelta(days=30)  # the default


async def count(app: App, table: type) -> int:
    async with app.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def job_states(app: App) -> list[JobState]:
    async with app.sessions() as session:
        return list((await session.scalars(select(DeliveryJob.state))).all())


async def test_after_the_retention_time_the_body_and_the_deliveries_go_the_archive_stays(
        app: App, sink: Sink) -> None:
    await setup_list(app)
    raw = make_message(subject="Shift report")
    await post(app, raw)
    await app.settle()
    assert await job_states(app) == [JobState.DONE]

    await app.workers.housekeeping(now() + RETENTION - timedelta(days=1))
    [row] = await inbound_rows(app)
    assert (row.state, row.raw) == (InboundState.DONE, raw)
    assert await count(app, DeliveryRecipient) == len(MEMBERS)

    await app.workers.housekeeping(now() + RETENTION + timedelta(days=1))
    [row] = await inbound_rows(app)
    assert (row.state, row.raw, row.disposition) == (InboundState.PRUNED, b"", "accepted")
    assert row.message_id.endswith("@example.org>")
    assert await count(app, DeliveryJob) == await count(app, DeliveryRecipient) == 0
    assert await count(app, ArchivedMessage) == 1


async def test_a_delivery_still_being_retried_is_kept(app: App, sink: Sink) -> None:
    await setup_list(app, [*MEMBERS, "tempfail@example.net"])
    await post(app, make_message())
    await sink.wait_for(lambda: len(sink.delivered) == 1)
    await app.workers.housekeeping(now() + RETENTION + timedelta(days=1))
    assert await job_states(app) == [JobState.PENDING]
    assert await count(app, DeliveryRecipient) == len(MEMBERS) + 1


async def test_a_repeated_message_id_is_still_held_after_the_body_is_gone(
        app: App, sink: Sink) -> None:
    await setup_list(app, duplicate_window_hours=str(24 * 60))
    raw = make_message(subject="Twice")
    await post(app, raw)
    await app.settle()
    await app.workers.housekeeping(now() + RETENTION + timedelta(days=1))
    await post(app, raw)
    await app.settle()
    first, second = await inbound_rows(app)
    assert first.state is InboundState.PRUNED
    assert (second.disposition, [hit["rule"] for hit in second.rule_hits]) == (
        "held", ["duplicate_message_id"])


async def test_decided_held_posts_old_requests_and_the_notice_log_go_too(
        app: App, sink: Sink) -> None:
    await subscriptions.setup_list(app, max_days_to_hold="3")
    await subscriptions.ask(app, "", sender=subscriptions.BOB, to=subscriptions.JOIN)
    await post(app, make_message(sender="carol@example.org"), sender="carol@example.org")
    await app.settle()
    tables = (HeldMessage, PendingConfirmation, NoticeLog)

    async def counts() -> list[int]:
        return [await count(app, table) for table in tables]

    expired = now() + timedelta(days=4)
    await app.workers.housekeeping(expired)  # the held post expires unanswered: decided
    assert all(await counts())
    # Each counts from its own moment: the held post from its decision.
    await app.workers.housekeeping(expired + RETENTION - timedelta(days=1))
    assert await count(app, HeldMessage) == 1
    await app.workers.housekeeping(expired + RETENTION + timedelta(days=1))
    assert await counts() == [0, 0, 0]
