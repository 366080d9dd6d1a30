# SPDX-License-Identifier: Apache-2.0
"""Queries on requests waiting for their token: create, find, use once."""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import PendingConfirmation


async def add_pending(session: AsyncSession, *, list_id: int, action: str, address: str,
                      match_key: str, payload: dict[str, Any], now: datetime,
                      lifetime: timedelta) -> PendingConfirmation:
    """A new request with a fresh random token (128 bits)."""
    row = PendingConfirmation(
        list_id=list_id, token=secrets.token_hex(16), action=action, address=address,
        match_key=match_key, payload=payload, created_at=now, expires_at=now + lifetime)
    session.add(row)
    await session.flush()
    return row


async def find_pending(session: AsyncSession, *, list_id: int, token: str,
                       actions: Sequence[str], now: datetime) -> PendingConfirmation | None:
    """The list's unused, unexpired request with this token and one of these actions."""
    return await session.scalar(select(PendingConfirmation).where(
        PendingConfirmation.token == token, PendingConfirmation.list_id == list_id,
        PendingConfirmation.action.in_(actions), PendingConfirmation.used_at.is_(None),
        PendingConfirmation.expires_at > now))


async def is_waiting(session: AsyncSession, *, list_id: int, match_key: str, action: str,
                     now: datetime) -> bool:
    """Whether an unused, unexpired request of this action waits for this address."""
    found = await session.scalar(select(PendingConfirmation.id).where(
        PendingConfirmation.list_id == list_id, PendingConfirmation.match_key == match_key,
        PendingConfirmation.action == action, PendingConfirmation.used_at.is_(None),
        PendingConfirmation.expires_at > now).limit(1))
    return found is not None


async def claim(session: AsyncSession, row_id: int, now: datetime) -> bool:
    """Use a token once: of two replies racing, one claims it and the other finds it used."""
    claimed = await session.execute(
        update(PendingConfirmation).where(
            PendingConfirmation.id == row_id, PendingConfirmation.used_at.is_(None),
            PendingConfirmation.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False))
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]
