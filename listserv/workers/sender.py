# SPDX-License-Identifier: Apache-2.0
"""The delivery loop: claim due jobs, send them over one smarthost connection per sender
task, and record the results as each transaction is answered.

A sender task does not end a transaction (the line after the message's last)
until the results of its transaction before are committed, so a crash repeats
at most the one transaction each connection had answered and not recorded;
meanwhile the next transaction is under way up to that line. Personal copies
(a transaction per member) wait only for the copy IN_DOUBT before theirs: a
crash repeats at most IN_DOUBT of them per connection, fewer members than one
bulk transaction reaches, and a connection does not stand idle for a commit
between two members. The recorder commits the results of all the connections
that are waiting in one transaction (a group commit).

On stop, every job already claimed is still sent and recorded, so a clean
shutdown leaves no lease behind. What failed for good goes to
handling.refusals: a recipient refused at RCPT becomes a bounce event for
that member, a message refused as a whole a notice to the owners.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from listserv import logs
from listserv.core.backoff import RetryPolicy
from listserv.core.personal import Copies, Personalization
from listserv.core.policy import Personalize
from listserv.db import outbox
from listserv.db.engine import commit_unsynced
from listserv.db.models import now
from listserv.handling import refusals
from listserv.metrics import Metrics
from listserv.offload import (
    INLINE_BELOW,
    in_process,
    in_worker,
    off_loop,
    spare_cores,
    start_processes,
    stop_processes,
)
from listserv.outbound.delivery import DeliveryResult, Smarthost
from listserv.outbound.signing import Prepared, Signer
from listserv.workers.shared import LEASE, LEASE_MARGIN, Shared

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.005  # the longest a result waits for those of the other connections
# Personal copies a connection has sent whose results are not yet committed, at most. With
# one (a commit between each two members) a connection sent about 1,200 copies/s into
# smtp-sink; from 8 on, 2,000/s, where other limits take over (bench/post_path.py).
IN_DOUBT = 8
# A commit gathers, for up to GATHER_SECONDS, a share from each busy connection: the result
# it waits for, or half its window of personal copies (it goes on meanwhile). Gathering one
# copy per connection: 1,800-2,200 VERP deliveries/s into smtp-sink, 460 µs of CPU each;
# four: 2,000-2,400/s, 310-370 µs.
GATHER_SHARE = IN_DOUBT // 2
# Members whose personal copies are made (and signed) in one go, and the most octets of
# copies a batch holds: a big post's copies are made a few at a time.
MADE_AHEAD = 16
MADE_AHEAD_OCTETS = 1024 * 1024


class Sender:
    """Sends claimed and handed-off jobs; records what came of them."""

    def __init__(self, shared: Shared) -> None:
        settings = shared.settings
        self._shared = shared
        self._signer = Signer.from_settings(settings)
        self._retry = RetryPolicy(timedelta(seconds=settings.retry_initial_seconds),
                                  timedelta(seconds=settings.retry_max_seconds),
                                  timedelta(hours=settings.retry_give_up_hours))
        self._results: asyncio.Queue[_Results | None] = asyncio.Queue()
        self._recorder: asyncio.Task[None] | None = None
        self._busy = 0  # sender tasks busy with a job
        # Copies signed one by one go to a signing process where a core is to spare.
        self._sign_in_process = self._signer.signs and spare_cores() > 0

    def busy(self) -> bool:
        """Whether results wait to be recorded."""
        return not self._results.empty()

    async def run(self) -> None:
        """Claim due jobs and hand them to sender tasks until stopped."""
        shared = self._shared
        connections = shared.settings.delivery_connections
        if self._sign_in_process:
            start_processes(Signer.__module__)
        queue: asyncio.Queue[outbox.Claimed | None] = asyncio.Queue(maxsize=connections)
        senders = [asyncio.create_task(self._send_from(queue)) for _ in range(connections)]
        recorder = self._recorder = asyncio.create_task(self._record_results())
        try:
            while not shared.stopping.is_set():
                if recorder.done():  # it failed: stop sending what we could not record
                    recorder.result()
                claimed = self._take_handoff(connections)
                if not claimed:
                    async with shared.writing(), shared.sessions.begin() as session:
                        claimed = await outbox.claim(session, worker=shared.worker_id,
                                                     now=now(), lease=LEASE, limit=connections)
                    shared.leased.update(job.job_id for job in claimed)
                for job in claimed:
                    await queue.put(job)  # waits while every connection is busy
                if not claimed:
                    await shared.nap(shared.jobs_ready)
        finally:
            for _ in senders:
                await queue.put(None)
            await asyncio.gather(*senders, return_exceptions=True)
            self._results.put_nowait(None)
            await asyncio.gather(recorder, return_exceptions=True)
            if self._sign_in_process:
                stop_processes()

    def _take_handoff(self, limit: int) -> list[outbox.Claimed]:
        """Up to limit handed-off jobs whose lease still holds; the rest wait for the lease
        to run out and are claimed again (a long backlog must not be sent twice)."""
        shared = self._shared
        taken: list[outbox.Claimed] = []
        moment = now()
        while shared.handoff and len(taken) < limit:
            job, until = shared.handoff.pop(0)
            if until - LEASE_MARGIN > moment:
                taken.append(job)
            else:
                shared.leased.discard(job.job_id)
        return taken

    async def give_back(self) -> None:
        """Once the loops have stopped: release jobs leased at queueing but never sent."""
        shared = self._shared
        if not shared.handoff:
            return
        ids = [job.job_id for job, _ in shared.handoff]
        async with shared.writing(), shared.sessions.begin() as session:
            await outbox.release(session, ids)
        shared.leased.difference_update(ids)
        shared.handoff.clear()

    async def _send_from(self, queue: "asyncio.Queue[outbox.Claimed | None]") -> None:
        smarthost = Smarthost(self._shared.settings)
        try:
            while (job := await queue.get()) is not None:
                if self._recorder is None or self._recorder.done():
                    continue  # nothing can be recorded: leave the job to its lease
                self._busy += 1
                try:
                    with logs.about(message_id=job.message_id, queue_id=f"job:{job.job_id}"), \
                            suppress(_Unrecorded):
                        await self._send_job(smarthost, job)
                finally:
                    self._busy -= 1
        finally:
            await smarthost.close()

    async def _send_job(self, smarthost: Smarthost, job: outbox.Claimed) -> None:
        if job.personalize is Personalize.NONE:
            raw = await off_loop(len(job.raw), self._signer.sign, job.raw, job.mail_from)
            results = await smarthost.send(job.mail_from, list(job.recipients),
                                           raw) if job.recipients else []
            await self._recorded(_attempt(job, results))
        else:
            await self._send_personal(smarthost, job)

    async def _send_personal(self, smarthost: Smarthost, job: outbox.Claimed) -> None:
        """One transaction per member, each delivery recorded as it happens (VERP, full).

        Each copy has its member's signed VERP envelope sender; copies that differ in
        their bytes (personal, or with a one-click link) are signed one by one, the
        others once. The copies are made a batch of members at a time, the next batch
        while this one is sent (_maker says where).
        """
        size = len(job.raw)
        prepared = await off_loop(size, self._signer.prepare, job.raw, job.mail_from)
        # Making the copies' template parses and renders the post.
        copies = await off_loop(size, Copies, prepared.raw, job.mail_from,
                                Personalization(job.personalize, job.footer, job.web_url),
                                key=self._shared.settings.hmac_key, list_id=job.list_id)
        shared = None if copies.varies else await off_loop(size, self._signer.sign, job.raw,
                                                           job.mail_from)
        make = self._maker(size, prepared, copies, shared)
        members = list(job.recipients)
        ahead = max(1, min(MADE_AHEAD, MADE_AHEAD_OCTETS // max(size, 1)))
        batches = [members[start:start + ahead] for start in range(0, len(members), ahead)]
        failed: list[DeliveryResult] = []
        upcoming = make(batches[0]) if batches else None
        in_doubt: deque[asyncio.Future[None]] = deque()  # sent: their results being committed
        try:
            for index, batch in enumerate(batches):
                assert upcoming is not None
                made = await upcoming
                upcoming = make(batches[index + 1]) if index + 1 < len(batches) else None
                for recipient, (mail_from, raw) in zip(batch, made, strict=True):
                    before_end = in_doubt.popleft() if len(in_doubt) == IN_DOUBT else None
                    [result] = await smarthost.send(mail_from, [recipient], raw, before_end)
                    if result.delivered:
                        in_doubt.append(self._recording(outbox.Attempt(
                            job, [job.recipients[recipient]], {}, {}, final=False)))
                    else:
                        failed.append(result)
        finally:
            if upcoming is not None and not upcoming.cancel():
                upcoming.exception()  # done, and no longer wanted
            for recorded in in_doubt:
                recorded.add_done_callback(_seen)  # the job's last result waits for them
        await self._recorded(_attempt(job, failed))

    def _maker(self, size: int, prepared: Prepared, copies: Copies, shared: bytes | None
               ) -> "Callable[[list[str]], asyncio.Future[list[tuple[str, bytes]]]]":
        """What makes the members' copies, each an envelope sender and its (signed) bytes.

        Copies signed one by one go to a signing process where the machine has a core
        to spare: a signature costs about 0.1 ms of Python and 0.3 ms of RSA, and in a
        thread the two threads took turns at the interpreter around each one (960
        signed copies/s threaded, 1,165/s on the loop, 1,280/s in a process, on 2
        cores). A big message's copies are made in a thread, the rest on the loop.
        """
        if shared is not None:
            return lambda members: _made([(copies.copy(member).mail_from, shared)
                                          for member in members])
        if prepared.key is not None and size < INLINE_BELOW and self._sign_in_process:
            return lambda members: asyncio.ensure_future(
                self._signed_in_process(prepared, copies, members))
        if size >= INLINE_BELOW:
            return lambda members: in_worker(self._signer.sign_copies, prepared, copies.copy,
                                             members)
        return lambda members: _made(self._signer.sign_copies(prepared, copies.copy, members))

    async def _signed_in_process(self, prepared: Prepared, copies: Copies,
                                 members: list[str]) -> list[tuple[str, bytes]]:
        """The members' signed copies, made in a signing process, else here."""
        try:
            return await in_process(self._signer.sign_copies, prepared, copies.copy, members)
        except Exception as exc:  # the process died, or could not be started
            if self._sign_in_process:
                self._sign_in_process = False
                log.warning("signing in a separate process failed (%s: %s); copies are "
                            "signed in the server process from now on", type(exc).__name__, exc)
            return self._signer.sign_copies(prepared, copies.copy, members)

    async def _recorded(self, attempt: outbox.Attempt) -> None:
        """Hand a transaction's results to the recorder and wait until they are committed."""
        await self._recording(attempt, waited=True)

    def _recording(self, attempt: outbox.Attempt, *,
                   waited: bool = False) -> "asyncio.Future[None]":
        """Hand a transaction's results to the recorder: done once they are committed.
        waited: the sender waits for them before it goes on."""
        committed = asyncio.get_running_loop().create_future()
        self._results.put_nowait(_Results(attempt, committed, waited))
        return committed

    async def _record_results(self) -> None:
        """Commit delivery results in batches: one transaction for all that are ready.

        If recording fails, every sender waiting for it is told (_Unrecorded) and
        sends no more: what it sent and could not record is sent again when its
        lease runs out.
        """
        batch: list[_Results | None] = []
        try:
            while None not in batch:
                batch = await self._gather()
                waiting = [results for results in batch if results is not None]
                await self._record([results.attempt for results in waiting])
                for results in waiting:
                    results.committed.set_result(None)
        except BaseException:
            while not self._results.empty():
                batch.append(self._results.get_nowait())
            for left in batch:
                if left is not None and not left.committed.done():
                    left.committed.set_exception(_Unrecorded())
            raise

    async def _gather(self) -> "list[_Results | None]":
        """The results to commit together: a share from every sender busy with a job (the
        result it waits for, or GATHER_SHARE personal copies it sent on from), or what came
        within GATHER_SECONDS of the first (a commit per result would cost far more)."""
        batch = [await self._results.get()]
        shares = _share(batch[0])
        with suppress(TimeoutError):
            async with asyncio.timeout(GATHER_SECONDS):
                while shares < self._busy * GATHER_SHARE and None not in batch:
                    batch.append(await self._results.get())
                    shares += _share(batch[-1])
        while not self._results.empty():
            batch.append(self._results.get_nowait())
        return batch

    async def _record(self, attempts: list[outbox.Attempt]) -> None:
        shared = self._shared
        if attempts:
            async with shared.unit(origin="delivery") as work:
                # A crash of the machine may lose them, and repeat these deliveries; a
                # commit that waits for the disk would slow every connection down.
                await commit_unsynced(work.session)
                failed = await outbox.record(work.session, attempts, work.now, self._retry)
                await refusals.record(work, failed)  # refused by the smarthost, or in vain
            _count(shared.metrics, attempts, work.now)
            shared.leased.difference_update(attempt.claimed.job_id for attempt in attempts)
            retried = sum(1 for attempt in attempts if attempt.temporary)
            if retried:
                log.warning("%d delivery jobs have recipients to retry", retried)


class _Unrecorded(Exception):
    """The results of a transaction could not be recorded."""


@dataclass(frozen=True, slots=True)
class _Results:
    """A transaction's results, and the future the recorder sets once they are committed."""

    attempt: outbox.Attempt
    committed: "asyncio.Future[None]"
    waited: bool  # the sender waits for the commit before it goes on


def _share(results: _Results | None) -> int:
    """What results count towards a commit's gathering (_gather)."""
    return 1 if results is not None and not results.waited else GATHER_SHARE


def _seen(recorded: "asyncio.Future[None]") -> None:
    """Take a recording's failure as seen: the sender already stopped for another reason."""
    if not recorded.cancelled():
        recorded.exception()


def _made(copies: list[tuple[str, bytes]]) -> "asyncio.Future[list[tuple[str, bytes]]]":
    made = asyncio.get_running_loop().create_future()
    made.set_result(copies)
    return made


def _count(metrics: Metrics, attempts: list[outbox.Attempt], moment: datetime) -> None:
    for attempt in attempts:
        if attempt.delivered:
            metrics.deliveries.labels("delivered").inc(len(attempt.delivered))
            seconds = max((moment - attempt.claimed.queued_at).total_seconds(), 0.0)
            for _ in attempt.delivered:
                metrics.latency.observe(seconds)
        if attempt.temporary:
            metrics.deliveries.labels("deferred").inc(len(attempt.temporary))
        if attempt.permanent:
            metrics.deliveries.labels("failed").inc(len(attempt.permanent))


def _attempt(job: outbox.Claimed, results: list[DeliveryResult]) -> outbox.Attempt:
    delivered, temporary, permanent = [], {}, {}
    for result in results:
        recipient_id = job.recipients[result.recipient]
        if result.delivered:
            delivered.append(recipient_id)
        elif result.temporary:
            temporary[recipient_id] = outbox.Refusal(result.code, result.text, result.stage)
        else:
            permanent[recipient_id] = outbox.Refusal(result.code, result.text, result.stage)
    return outbox.Attempt(job, delivered, temporary, permanent)
