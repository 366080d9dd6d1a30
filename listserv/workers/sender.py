# SPDX-License-Identifier: Apache-2.0
"""The delivery loop: claim due jobs, send them over one smarthost connection per sender
task, and record the results in batches.

On stop, every job already claimed is still sent and recorded, so a clean
shutdown leaves no lease behind. What failed for good goes to
handling.refusals: a recipient refused at RCPT becomes a bounce event for
that member, a message refused as a whole a notice to the owners.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from listserv import logs
from listserv.core.backoff import RetryPolicy
from listserv.core.personal import Copies, Personalization
from listserv.core.policy import Personalize
from listserv.db import outbox
from listserv.db.models import now
from listserv.handling import refusals
from listserv.metrics import Metrics
from listserv.offload import off_loop
from listserv.outbound.delivery import DeliveryResult, Smarthost
from listserv.outbound.signing import Signer
from listserv.workers.shared import LEASE, LEASE_MARGIN, Shared

log = logging.getLogger(__name__)


class Sender:
    """Sends claimed and handed-off jobs; records what came of them."""

    def __init__(self, shared: Shared) -> None:
        settings = shared.settings
        self._shared = shared
        self._signer = Signer.from_settings(settings)
        self._retry = RetryPolicy(timedelta(seconds=settings.retry_initial_seconds),
                                  timedelta(seconds=settings.retry_max_seconds),
                                  timedelta(hours=settings.retry_give_up_hours))
        self._results: asyncio.Queue[outbox.Attempt | None] = asyncio.Queue()

    def busy(self) -> bool:
        """Whether results wait to be recorded."""
        return not self._results.empty()

    async def run(self) -> None:
        """Claim due jobs and hand them to sender tasks until stopped."""
        shared = self._shared
        connections = shared.settings.delivery_connections
        queue: asyncio.Queue[outbox.Claimed | None] = asyncio.Queue(maxsize=connections)
        senders = [asyncio.create_task(self._send_from(queue)) for _ in range(connections)]
        recorder = asyncio.create_task(self._record_results())
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
                with logs.about(message_id=job.message_id, queue_id=f"job:{job.job_id}"):
                    await self._send_job(smarthost, job)
        finally:
            await smarthost.close()

    async def _send_job(self, smarthost: Smarthost, job: outbox.Claimed) -> None:
        if job.personalize is Personalize.NONE:
            raw = await off_loop(len(job.raw), self._signer.sign, job.raw, job.mail_from)
            results = await smarthost.send(job.mail_from, list(job.recipients),
                                           raw) if job.recipients else []
            self._results.put_nowait(_attempt(job, results))
        else:
            await self._send_personal(smarthost, job)

    async def _send_personal(self, smarthost: Smarthost, job: outbox.Claimed) -> None:
        """One transaction per member, each delivery recorded as it happens (VERP, full).

        Each copy has its member's signed VERP envelope sender; copies that differ in
        their bytes (personal, or with a one-click link) are signed one by one, the
        others once.
        """
        copies = Copies(job.raw, job.mail_from,
                        Personalization(job.personalize, job.footer, job.web_url),
                        key=self._shared.settings.hmac_key, list_id=job.list_id)
        size = len(job.raw)
        shared = None if copies.varies else await off_loop(size, self._signer.sign, job.raw,
                                                           job.mail_from)
        failed: list[DeliveryResult] = []
        for recipient, recipient_id in job.recipients.items():
            if shared is None:  # a copy of its own, made and signed off the loop
                mail_from, raw = await off_loop(size, self._signed_copy, copies, recipient)
            else:
                mail_from, raw = copies.copy(recipient).mail_from, shared
            [result] = await smarthost.send(mail_from, [recipient], raw)
            if result.delivered:
                self._results.put_nowait(outbox.Attempt(job, [recipient_id], {}, {},
                                                        final=False))
            else:
                failed.append(result)
        self._results.put_nowait(_attempt(job, failed))

    def _signed_copy(self, copies: Copies, recipient: str) -> tuple[str, bytes]:
        """A member's envelope sender and signed copy."""
        copy = copies.copy(recipient)
        return copy.mail_from, self._signer.sign(copy.raw, copy.mail_from)

    async def _record_results(self) -> None:
        """Commit delivery results in batches: one transaction for all that are ready."""
        shared = self._shared
        done = False
        while not done:
            batch = [await self._results.get()]
            while not self._results.empty():
                batch.append(self._results.get_nowait())
            done = None in batch
            attempts = [attempt for attempt in batch if attempt is not None]
            async with shared.unit(origin="delivery") as work:
                failed = await outbox.record(work.session, attempts, work.now, self._retry)
                await refusals.record(work, failed)  # refused by the smarthost, or in vain
            _count(shared.metrics, attempts, work.now)
            shared.leased.difference_update(attempt.claimed.job_id for attempt in attempts)
            retried = sum(1 for attempt in attempts if attempt.temporary)
            if retried:
                log.warning("%d delivery jobs have recipients to retry", retried)


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
