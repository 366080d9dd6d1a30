# SPDX-License-Identifier: Apache-2.0
"""Delivery jobs: queue them, claim due ones, record each recipient's result.

A job is claimed with a lease: its state becomes 'sending' until lease_until.
A process that dies mid-send leaves the lease to expire, and the job is
claimed again (docs/ARCHITECTURE.md: several processes share one PostgreSQL, claims use
FOR UPDATE SKIP LOCKED; on SQLite one process does the work).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from listserv.core.backoff import RetryPolicy
from listserv.core.personal import BULK, Personalization
from listserv.core.policy import Personalize
from listserv.core.refusals import Stage
from listserv.db.models import DeliveryJob, DeliveryRecipient, JobState, RecipientState, now


@dataclass(frozen=True, slots=True)
class Claimed:
    """A job this worker holds the lease on, with its recipients still to deliver."""

    job_id: int
    mail_from: str
    raw: bytes
    message_id: str
    attempts: int  # attempts before this one
    recipients: dict[str, int]  # address -> delivery_recipient.id
    list_id: int | None = None
    kind: str = "post"
    queued_at: datetime = field(default_factory=now)
    personalize: Personalize = Personalize.NONE  # VERP: one transaction per recipient
    footer: str = ""  # with personalize=full: the footer, {member_address} still open
    web_url: str = ""  # the base URL of each copy's one-click link; '' for none


@dataclass(frozen=True, slots=True)
class Template:
    """What every job of one message is made from."""

    raw: bytes
    mail_from: str
    message_id: str = ""
    personal: Personalization = BULK


@dataclass(frozen=True, slots=True)
class Lease:
    """Jobs written already claimed: the process that queues them sends them itself."""

    worker: str
    until: datetime


_RECIPIENT_COLUMNS = ("job_id", "address", "state", "attempts")  # as enqueue gives them


async def enqueue(session: AsyncSession, *, list_id: int | None, kind: str, mail_from: str,
                  raw: bytes, transactions: Sequence[Sequence[str]], message_id: str = "",
                  lease: Lease | None = None,
                  personal: Personalization = BULK) -> list[Claimed]:
    """Queue one message as jobs, one per SMTP transaction's recipients.

    With a lease the jobs are written as claimed by that worker and returned,
    so it can send them at once without claiming them again; if it dies, the
    lease runs out and any process takes them. Core statements, two for the
    lot: the ORM's unit of work costs several times more per row.
    """
    connection = await session.connection()
    if not transactions:
        return []  # nobody to send it to (every member takes the digest, say)
    queued_at = now()
    job = {"list_id": list_id, "kind": kind, "mail_from": mail_from, "raw": raw,
           "message_id": message_id[:998], "state": JobState.PENDING, "attempts": 0,
           "created_at": queued_at, "next_attempt_at": queued_at,
           "personalize": personal.mode, "footer": personal.footer,
           "web_url": personal.web_url}
    if lease is not None:
        job.update(state=JobState.SENDING, lease_until=lease.until, claimed_by=lease.worker)
    job_ids = (await connection.execute(
        insert(DeliveryJob.__table__).returning(  # type: ignore[arg-type]
            DeliveryJob.id, sort_by_parameter_order=True),
        [job] * len(transactions))).scalars().all()
    # Rows as tuples straight to the driver, in the statement compiled for its dialect:
    # SQLAlchemy's per-row parameter processing cost as much as the insert itself.
    inserting = insert(DeliveryRecipient.__table__).compile(  # type: ignore[arg-type]
        dialect=connection.dialect, column_keys=list(_RECIPIENT_COLUMNS))
    pending = RecipientState.PENDING.value
    await connection.exec_driver_sql(str(inserting), [
        (job_id, address, pending, 0)
        for job_id, addresses in zip(job_ids, transactions, strict=True) for address in addresses])
    if lease is None:
        return []
    # One query for the new rows' ids: RETURNING over thousands of rows is far slower.
    claimed = {job_id: Claimed(job_id, mail_from, raw, message_id, 0, {}, list_id, kind,
                               queued_at, personal.mode, personal.footer, personal.web_url)
               for job_id in job_ids}
    for job_id, address, recipient_id in await connection.execute(
            select(DeliveryRecipient.job_id, DeliveryRecipient.address, DeliveryRecipient.id)
            .where(DeliveryRecipient.job_id.in_(job_ids))):
        claimed[job_id].recipients[address] = recipient_id
    return list(claimed.values())


async def release(session: AsyncSession, job_ids: Sequence[int]) -> None:
    """Give back jobs this worker holds but will not send (it is stopping)."""
    await session.execute(update(DeliveryJob).where(DeliveryJob.id.in_(job_ids),
                                                    DeliveryJob.state == JobState.SENDING)
                          .values(state=JobState.PENDING, lease_until=None))


async def lease_holders(session: AsyncSession, host: str) -> list[str]:
    """The workers (host:pid) on this host that hold leases."""
    return [owner for owner in (await session.scalars(select(DeliveryJob.claimed_by).where(
        DeliveryJob.state == JobState.SENDING, DeliveryJob.claimed_by.startswith(f"{host}:"))
        .distinct())).all() if owner]


async def release_leases(session: AsyncSession, holders: Sequence[str] | None = None) -> int:
    """Queue again the jobs these workers (None: any worker) held; how many there were."""
    held = DeliveryJob.state == JobState.SENDING
    if holders is not None:
        held = held & DeliveryJob.claimed_by.in_(holders)
    freed = await session.execute(update(DeliveryJob).where(held)
                                  .values(state=JobState.PENDING, lease_until=None))
    return int(freed.rowcount)  # type: ignore[attr-defined]


async def count_due(session: AsyncSession, now: datetime) -> int:
    """Jobs being sent or due now. A job never tried is due whatever its clock says: it
    may have been written while this query waited for the database."""
    return int(await session.scalar(select(func.count()).select_from(DeliveryJob).where(
        (DeliveryJob.state == JobState.SENDING)
        | ((DeliveryJob.state == JobState.PENDING)
           & ((DeliveryJob.next_attempt_at <= now) | (DeliveryJob.attempts == 0))))) or 0)


async def claim(session: AsyncSession, *, worker: str, now: datetime, lease: timedelta,
                limit: int) -> list[Claimed]:
    """Take up to limit due jobs (or jobs whose lease ran out) for this worker."""
    due = or_(and_(DeliveryJob.state == JobState.PENDING, DeliveryJob.next_attempt_at <= now),
              and_(DeliveryJob.state == JobState.SENDING, DeliveryJob.lease_until < now))
    jobs = (await session.scalars(
        select(DeliveryJob).where(due).order_by(DeliveryJob.next_attempt_at, DeliveryJob.id)
        .limit(limit).with_for_update(skip_locked=True))).all()
    if not jobs:
        return []
    ids = [job.id for job in jobs]
    await session.execute(update(DeliveryJob).where(DeliveryJob.id.in_(ids)).values(
        state=JobState.SENDING, lease_until=now + lease, claimed_by=worker))
    pending: dict[int, dict[str, int]] = {job_id: {} for job_id in ids}
    rows = await session.execute(
        select(DeliveryRecipient.job_id, DeliveryRecipient.address, DeliveryRecipient.id)
        .where(DeliveryRecipient.job_id.in_(ids),
               DeliveryRecipient.state == RecipientState.PENDING))
    for job_id, address, recipient_id in rows:
        pending[job_id][address] = recipient_id
    return [Claimed(job.id, job.mail_from, job.raw, job.message_id, job.attempts,
                    pending[job.id], job.list_id, job.kind, job.created_at, job.personalize,
                    job.footer, job.web_url) for job in jobs]


class Refusal(NamedTuple):
    """Why delivery to a recipient failed: the smarthost's reply, and which reply it was."""

    code: int
    text: str
    stage: Stage = Stage.RCPT


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt of a claimed job did, per recipient id.

    A job sent as one transaction per recipient (VERP) reports its deliveries
    as they happen (final=False: recipients only, so a crash repeats at most
    the transactions in flight) and the failures at the end (final=True).
    """

    claimed: Claimed
    delivered: list[int]
    temporary: dict[int, Refusal]  # by recipient id
    permanent: dict[int, Refusal]
    final: bool = True


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    """A recipient that failed for good: refused, or retried until the policy gave up."""

    list_id: int | None
    kind: str
    address: str
    code: int
    text: str
    job: Claimed  # the message it was for
    stage: Stage = Stage.RCPT  # only a refusal at RCPT is about the recipient's mailbox


async def record(session: AsyncSession, outcomes: Sequence[Attempt], now: datetime,
                 retry: RetryPolicy) -> list[FailedRecipient]:
    """Store the recipients' results; a job is done when none of its recipients is pending.

    Temporary failures are retried with backoff until the policy gives up;
    then they fail for good. Returns the recipients that failed for good. The
    common case, every recipient delivered, costs two statements for the
    whole batch; failures are written one by one.
    """
    outcomes = [_give_up(outcome, now, retry) for outcome in outcomes]
    connection = await session.connection()
    delivered = [rid for outcome in outcomes for rid in outcome.delivered]
    if delivered:
        await connection.execute(
            update(DeliveryRecipient).where(DeliveryRecipient.id.in_(delivered))
            .values(state=RecipientState.DELIVERED, delivered_at=now, last_code=250,
                    attempts=DeliveryRecipient.attempts + 1))
    clean = [o.claimed.job_id for o in outcomes
             if o.final and not o.temporary and not o.permanent]
    if clean:
        await connection.execute(
            update(DeliveryJob).where(DeliveryJob.id.in_(clean)).values(
                attempts=DeliveryJob.attempts + 1, lease_until=None, last_error=None,
                state=JobState.DONE, next_attempt_at=now))
    for outcome in outcomes:
        if outcome.temporary or outcome.permanent:
            await _record_failures(connection, outcome, now, retry)
    failed = []
    for o in outcomes:
        if o.permanent:
            addresses = {rid: address for address, rid in o.claimed.recipients.items()}
            failed += [FailedRecipient(o.claimed.list_id, o.claimed.kind, addresses[rid],
                                       refusal.code, refusal.text, o.claimed, refusal.stage)
                       for rid, refusal in o.permanent.items()]
    return failed


def _give_up(outcome: Attempt, now: datetime, retry: RetryPolicy) -> Attempt:
    """Turn temporary failures into permanent ones once the job is too old to retry."""
    if not outcome.temporary or not retry.gives_up(outcome.claimed.queued_at, now):
        return outcome
    hours = int((now - outcome.claimed.queued_at).total_seconds() // 3600)
    expired = {rid: Refusal(code, f"gave up after {hours} hours; last: {code} {text}", stage)
               for rid, (code, text, stage) in outcome.temporary.items()}
    return Attempt(outcome.claimed, outcome.delivered, {}, {**outcome.permanent, **expired},
                   outcome.final)


async def _record_failures(connection: AsyncConnection, outcome: Attempt, now: datetime,
                           retry: RetryPolicy) -> None:
    for state, failures in ((RecipientState.PENDING, outcome.temporary),
                            (RecipientState.FAILED, outcome.permanent)):
        for recipient_id, (code, text, _) in failures.items():
            await connection.execute(
                update(DeliveryRecipient).where(DeliveryRecipient.id == recipient_id)
                .values(state=state, last_code=code, last_error=text[:2000],
                        attempts=DeliveryRecipient.attempts + 1))
    failures = {**outcome.temporary, **outcome.permanent}
    attempts = outcome.claimed.attempts + 1
    retry_at = retry.next_attempt(attempts, now, random.random())
    await connection.execute(
        update(DeliveryJob).where(DeliveryJob.id == outcome.claimed.job_id).values(
            attempts=attempts, lease_until=None,
            last_error="; ".join(f"{code} {text}" for code, text, _ in failures.values())[:2000],
            state=JobState.PENDING if outcome.temporary else JobState.DONE,
            next_attempt_at=retry_at if outcome.temporary else now))
