# SPDX-License-Identifier: Apache-2.0
"""The loops inside ``listserv serve``: process inbound mail, deliver queued jobs.

Each unit of work is wrapped in ``except Exception``: a message whose
processing raises is marked failed with its traceback and kept for
``listserv queue``; it never blocks the queue or vanishes (STYLE.md, 3).
Work is taken up within milliseconds when this process queued it (events),
and by polling when another process did.
"""

import asyncio
import contextlib
import logging
import os
import socket
import time
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from listserv.core.backoff import RetryPolicy
from listserv.core.personal import envelope_sender, personal_copy
from listserv.core.policy import Personalize
from listserv.db import outbox, retention
from listserv.db.engine import Sessions
from listserv.db.models import DeliveryJob, Inbound, InboundState, JobState, now
from listserv.handling import bounces, digests, moderation
from listserv.handling.context import ListCache, Rosters, Site
from listserv.handling.processing import Unprocessable, handle
from listserv.outbound.delivery import DeliveryResult, Smarthost
from listserv.outbound.signing import Signer
from listserv.settings import Settings

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
PROCESS_BATCH = 10  # messages per processing transaction
FANOUT_PER_TRANSACTION = 1000  # recipients queued before a batch commits early
GIVE_WAY_MAX = 1.0  # seconds processing may wait for a busy intake
GIVE_WAY_STEP = 0.01
HOUSEKEEPING_SECONDS = 60.0
LEASE = timedelta(minutes=5)
LEASE_MARGIN = timedelta(minutes=1)  # time left on a lease for a transaction to finish


async def _wait(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)
    event.clear()


class Workers:
    """The processing and delivery loops of one listserv process."""

    def __init__(self, settings: Settings, engine: AsyncEngine, sessions: Sessions,
                 intake_busy: Callable[[], bool] = lambda: False,
                 write_lock: asyncio.Lock | None = None) -> None:
        self._settings = settings
        self._intake_busy = intake_busy
        self._engine = engine
        self._sessions = sessions
        self._site = Site.from_settings(settings)
        self._signer = Signer.from_settings(settings)
        self._retry = RetryPolicy(timedelta(seconds=settings.retry_initial_seconds),
                                  timedelta(seconds=settings.retry_max_seconds),
                                  timedelta(hours=settings.retry_give_up_hours))
        self._retention = timedelta(days=settings.retention_days)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.inbound_ready = asyncio.Event()
        self.jobs_ready = asyncio.Event()
        self._results: asyncio.Queue[outbox.Outcome | None] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self._leased: set[int] = set()  # jobs claimed and not yet recorded
        # Jobs leased at queueing, not yet sending, with the end of their lease.
        self._handoff: list[tuple[outbox.Claimed, datetime]] = []
        self._rosters: Rosters = {}  # members per list, kept while the roster is unchanged
        self._write_lock = write_lock

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        async with self._write_lock or contextlib.nullcontext():
            yield

    def stop(self) -> None:
        """Ask the loops to finish the work in hand and return."""
        self._stopping.set()
        self.inbound_ready.set()
        self.jobs_ready.set()

    async def _nap(self, event: asyncio.Event) -> None:
        if not self._stopping.is_set():
            await _wait(event, POLL_SECONDS)

    async def process_inbound(self) -> None:
        """Run the pipeline over stored messages, oldest first, until stopped."""
        while not self._stopping.is_set():
            busy = await self._give_way_to_intake()
            # While mail pours in, hold the (SQLite) write lock only briefly.
            if not await self.process_one(limit=1 if busy else PROCESS_BATCH):
                await self._nap(self.inbound_ready)

    async def _give_way_to_intake(self) -> bool:
        """While mail is pouring in, accept it first and process it a little later.

        Taking mail is what the sending MTAs wait for; processing can lag a
        moment in a flood. A message is processed at least every GIVE_WAY_MAX
        seconds all the same. Returns whether intake is still busy.
        """
        deadline = time.monotonic() + GIVE_WAY_MAX
        while self._intake_busy() and time.monotonic() < deadline \
                and not self._stopping.is_set():
            await asyncio.sleep(GIVE_WAY_STEP)
        return self._intake_busy()

    async def process_one(self, limit: int = PROCESS_BATCH) -> bool:
        """Process a batch of the oldest waiting messages; False if none waits.

        One transaction for the batch (one disk flush), a savepoint for each
        message so that one failure is kept as failed without undoing the rest.
        """
        cache = ListCache(lease=outbox.Lease(self.worker_id, now() + LEASE),
                          rosters=self._rosters)
        async with self._writing(), self._sessions.begin() as session:
            rows = (await session.scalars(
                select(Inbound).where(Inbound.state == InboundState.INCOMING)
                .order_by(Inbound.id).limit(limit).with_for_update(skip_locked=True))
            ).all()
            for row in rows:
                if cache.queued >= FANOUT_PER_TRANSACTION:
                    break  # commit, so delivery can start; the rest waits for the next batch
                await self._process(session, row, cache)
        if rows:
            # Committed: the posts' jobs are ours to send, without claiming them again.
            self._leased.update(job.job_id for job in cache.leased)
            assert cache.lease is not None
            self._handoff.extend((job, cache.lease.until) for job in cache.leased)
            self.jobs_ready.set()
        return bool(rows)

    async def _process(self, session: AsyncSession, row: Inbound, cache: ListCache) -> None:
        row_id, message_id = row.id, row.message_id or "(no Message-ID)"
        leased = len(cache.leased)
        try:
            async with session.begin_nested():
                await handle(session, row, self._site, now(), cache, self.worker_id)
        except Exception as exc:
            del cache.leased[leased:]  # rolled back with the savepoint: nothing to send
            row.state = InboundState.FAILED
            if isinstance(exc, Unprocessable):
                log.error("%s (inbound %d): %s", message_id, row_id, exc)
                row.error = str(exc)
            else:
                log.exception("%s (inbound %d): processing failed; kept as failed",
                              message_id, row_id)
                row.error = traceback.format_exc()

    async def keep_house(self) -> None:
        """Once a minute: expire held posts nobody decided, summarise held-post floods,
        send the digests that are due, warn and remove members whose mail bounces, drop
        what is older than the retention time."""
        while not self._stopping.is_set():
            await self.housekeeping(now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), HOUSEKEEPING_SECONDS)

    async def housekeeping(self, moment: datetime) -> None:
        """The periodic work that is due at this moment (tests pass a moment of their own)."""
        cache = ListCache(rosters=self._rosters)
        async with self._writing(), self._sessions.begin() as session:
            await moderation.expire(session, self._site, moment, cache)
            await moderation.send_summaries(session, self._site, moment, cache)
            await digests.send_due(session, self._site, moment, cache)
            await bounces.housekeeping(session, self._site, moment, cache)
            pruned = await retention.prune(session, moment - self._retention)
        if any(pruned.values()):
            log.info("retention: dropped %s", ", ".join(
                f"{count} {what}" for what, count in pruned.items() if count))
        self.jobs_ready.set()  # whatever this queued goes out now, not at the next poll

    async def deliver(self) -> None:
        """Claim due jobs and hand them to sender tasks, one smarthost connection each.

        On stop, every job already claimed is still sent and recorded, so a
        clean shutdown leaves no lease behind.
        """
        connections = self._settings.delivery_connections
        queue: asyncio.Queue[outbox.Claimed | None] = asyncio.Queue(maxsize=connections)
        senders = [asyncio.create_task(self._send_from(queue)) for _ in range(connections)]
        recorder = asyncio.create_task(self._record_results())
        try:
            while not self._stopping.is_set():
                if recorder.done():  # it failed: stop sending what we could not record
                    recorder.result()
                claimed = self._take_handoff(connections)
                if not claimed:
                    async with self._writing(), self._sessions.begin() as session:
                        claimed = await outbox.claim(session, worker=self.worker_id,
                                                     now=now(), lease=LEASE, limit=connections)
                    self._leased.update(job.job_id for job in claimed)
                for job in claimed:
                    await queue.put(job)  # waits while every connection is busy
                if not claimed:
                    await self._nap(self.jobs_ready)
        finally:
            for _ in senders:
                await queue.put(None)
            await asyncio.gather(*senders, return_exceptions=True)
            self._results.put_nowait(None)
            await asyncio.gather(recorder, return_exceptions=True)

    def _take_handoff(self, limit: int) -> list[outbox.Claimed]:
        """Up to limit handed-off jobs whose lease still holds; the rest wait for the lease
        to run out and are claimed again (a long backlog must not be sent twice)."""
        taken: list[outbox.Claimed] = []
        moment = now()
        while self._handoff and len(taken) < limit:
            job, until = self._handoff.pop(0)
            if until - LEASE_MARGIN > moment:
                taken.append(job)
            else:
                self._leased.discard(job.job_id)
        return taken

    async def give_back(self) -> None:
        """Once the loops have stopped: release jobs leased at queueing but never sent."""
        if not self._handoff:
            return
        ids = [job.job_id for job, _ in self._handoff]
        async with self._writing(), self._sessions.begin() as session:
            await outbox.release(session, ids)
        self._leased.difference_update(ids)
        self._handoff.clear()

    async def _send_from(self, queue: "asyncio.Queue[outbox.Claimed | None]") -> None:
        smarthost = Smarthost(self._settings)
        try:
            while (job := await queue.get()) is not None:
                if job.personalize is Personalize.NONE:
                    raw = self._signer.sign(job.raw, job.mail_from)
                    results = await smarthost.send(job.mail_from, list(job.recipients),
                                                   raw) if job.recipients else []
                    self._results.put_nowait(_outcome(job, results))
                else:
                    await self._send_personal(smarthost, job)
        finally:
            await smarthost.close()

    async def _send_personal(self, smarthost: Smarthost, job: outbox.Claimed) -> None:
        """One transaction per member, each delivery recorded as it happens (VERP, full)."""
        failed: list[DeliveryResult] = []
        full = job.personalize is Personalize.FULL
        signed = b"" if full else self._signer.sign(job.raw, job.mail_from)  # the same for all
        for recipient, recipient_id in job.recipients.items():
            raw = self._signer.sign(personal_copy(job.raw, job.footer, recipient),
                                    job.mail_from) if full else signed
            [result] = await smarthost.send(envelope_sender(job.mail_from, recipient),
                                            [recipient], raw)
            if result.delivered:
                self._results.put_nowait(outbox.Outcome(job, [recipient_id], {}, {},
                                                        final=False))
            else:
                failed.append(result)
        self._results.put_nowait(_outcome(job, failed))

    async def _record_results(self) -> None:
        """Commit delivery results in batches: one transaction for all that are ready."""
        done = False
        while not done:
            batch = [await self._results.get()]
            while not self._results.empty():
                batch.append(self._results.get_nowait())
            done = None in batch
            outcomes = [outcome for outcome in batch if outcome is not None]
            async with self._writing(), self._sessions.begin() as session:
                moment = now()
                failed = await outbox.record(session, outcomes, moment, self._retry)
                for failure in failed:  # refused by the smarthost, or retried in vain
                    if failure.list_id is not None:
                        await bounces.record_refusal(session, failure.list_id, failure.address,
                                                     failure.code, failure.text, moment)
            self._leased.difference_update(outcome.claimed.job_id for outcome in outcomes)
            retried = sum(1 for outcome in outcomes if outcome.temporary)
            if retried:
                log.warning("%d delivery jobs have recipients to retry", retried)

    async def release_leases(self) -> None:
        """At start: free the leases of processes that are gone, so their jobs go out now.

        On SQLite only this process can hold leases. On PostgreSQL those of
        dead processes on this machine (a kill -9, a crash; in a container the
        restarted process may even have the same pid) are freed; other
        machines' leases run out by themselves.
        """
        held = (DeliveryJob.state == JobState.SENDING)
        if self._engine.dialect.name != "sqlite":
            host, _, _ = self.worker_id.rpartition(":")
            async with self._sessions() as session:
                owners = (await session.scalars(select(DeliveryJob.claimed_by).where(
                    held, DeliveryJob.claimed_by.startswith(f"{host}:")).distinct())).all()
            gone = [owner for owner in owners if owner and _gone(owner, self.worker_id)]
            if not gone:
                return
            held = held & DeliveryJob.claimed_by.in_(gone)
        async with self._writing(), self._sessions.begin() as session:
            freed = await session.execute(update(DeliveryJob).where(held)
                                          .values(state=JobState.PENDING, lease_until=None))
        if freed.rowcount:  # type: ignore[attr-defined]
            log.warning("%d delivery jobs of a process that stopped without finishing them "
                        "are queued again", freed.rowcount)  # type: ignore[attr-defined]

    async def idle(self) -> bool:
        """Whether nothing is waiting to be processed or delivered right now."""
        if self._leased or not self._results.empty():
            return False
        moment = now()
        async with self._sessions() as session:
            incoming = await session.scalar(select(func.count()).select_from(Inbound)
                                            .where(Inbound.state == InboundState.INCOMING))
            # A job never tried is due whatever its clock says: it may have been
            # written while this query waited for the database.
            due = await session.scalar(select(func.count()).select_from(DeliveryJob).where(
                (DeliveryJob.state == JobState.SENDING)
                | ((DeliveryJob.state == JobState.PENDING)
                   & ((DeliveryJob.next_attempt_at <= moment) | (DeliveryJob.attempts == 0)))))
        return not incoming and not due


def _gone(owner: str, worker_id: str) -> bool:
    """Whether the process that holds a lease (host:pid on this host) no longer runs."""
    if owner == worker_id:
        return True  # our own pid before this start: a former incarnation's lease
    pid = owner.rpartition(":")[2]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it runs, as another user
    return False


def _outcome(job: outbox.Claimed, results: list[DeliveryResult]) -> outbox.Outcome:
    delivered, temporary, permanent = [], {}, {}
    for result in results:
        recipient_id = job.recipients[result.recipient]
        if result.delivered:
            delivered.append(recipient_id)
        elif result.temporary:
            temporary[recipient_id] = (result.code, result.text)
        else:
            permanent[recipient_id] = (result.code, result.text)
    return outbox.Outcome(job, delivered, temporary, permanent)
