# SPDX-License-Identifier: Apache-2.0
"""Queries on web form submissions: record one, count a client's since a moment."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import FormSubmission


def record_submission(session: AsyncSession, *, client: str, form: str, now: datetime) -> None:
    session.add(FormSubmission(client=client, form=form, submitted_at=now))


async def submissions_since(session: AsyncSession, client: str, since: datetime) -> int:
    """How many forms that mail someone this client submitted since then."""
    return int(await session.scalar(select(func.count()).select_from(FormSubmission).where(
        FormSubmission.client == client, FormSubmission.submitted_at >= since)) or 0)
