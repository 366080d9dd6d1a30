# SPDX-License-Identifier: Apache-2.0
"""Queries on held posts: keep, find, claim a decision, expire, summarise."""

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.moderation import HeldPost
from listserv.db.models import HeldMessage, Inbound
from listserv.errors import NotFound

SINGLE, SUMMARY = "single", "summary"  # how the moderators were told


async def add_held(session: AsyncSession, *, list_id: int, inbound_id: int, sender: str,
                   subject: str, message_id: str, reasons: list[str], raw: bytes,
                   now: datetime, expires_at: datetime) -> HeldMessage:
    """Keep a post for the moderators, with a fresh token (128 bits) for their replies."""
    held = HeldMessage(list_id=list_id, inbound_id=inbound_id, token=secrets.token_hex(16),
                       sender=sender, subject=subject[:2000], message_id=message_id[:998],
                       reasons=reasons, raw=raw, held_at=now, expires_at=expires_at)
    session.add(held)
    await session.flush()
    return held


async def by_token(session: AsyncSession, list_id: int, token: str) -> HeldMessage | None:
    """The list's held post whose moderators' or author's token this is."""
    if not token:
        return None
    return await session.scalar(select(HeldMessage).where(
        HeldMessage.list_id == list_id,
        or_(HeldMessage.token == token, HeldMessage.withdraw_token == token)))


async def envelope_sender(session: AsyncSession, held: HeldMessage) -> str:
    """The envelope sender the held post came with (its sender when that is unknown)."""
    if held.inbound_id is None:
        return held.sender
    mail_from = await session.scalar(select(Inbound.mail_from)
                                     .where(Inbound.id == held.inbound_id))
    return held.sender if mail_from is None else mail_from


async def get_held(session: AsyncSession, held_id: int,
                   list_id: int | None = None) -> HeldMessage:
    """The held post with this id (on this list, if given), or NotFound."""
    held = await session.get(HeldMessage, held_id)
    if held is None or list_id not in (None, held.list_id):
        raise NotFound(f"no held post with id {held_id}")
    return held


def describe_held(held: HeldMessage, moment: datetime, *, raw: bool = False) -> dict[str, Any]:
    """A held post as plain JSON-able data, with the message as text if raw."""
    described = {
        "id": held.id, "author": held.sender, "subject": held.subject, "reasons": held.reasons,
        "message_id": held.message_id, "held_at": held.held_at.isoformat(),
        "expires_at": held.expires_at.isoformat(),
        "age_hours": round((moment - held.held_at).total_seconds() / 3600, 1),
        "size": len(held.raw), "decision": held.decision, "decided_by": held.decided_by,
        "decided_at": held.decided_at.isoformat() if held.decided_at else None}
    return described | ({"raw": held.raw.decode("utf-8", "replace")} if raw else {})


async def undecided(session: AsyncSession, list_id: int) -> Sequence[HeldMessage]:
    """The list's posts waiting for a decision, oldest first."""
    return (await session.scalars(select(HeldMessage).where(
        HeldMessage.list_id == list_id, HeldMessage.decided_at.is_(None))
        .order_by(HeldMessage.id))).all()


async def notices_since(session: AsyncSession, list_id: int, since: datetime) -> int:
    """Held posts the list's moderators were told of one by one since then."""
    return int(await session.scalar(select(func.count()).select_from(HeldMessage).where(
        HeldMessage.list_id == list_id, HeldMessage.notice == SINGLE,
        HeldMessage.notified_at >= since)) or 0)


async def claim_decision(session: AsyncSession, held_id: int, *, now: datetime, by: str,
                         decision: str, reason: str) -> bool:
    """Record a decision unless one was made already (two moderators racing: one wins)."""
    claimed = await session.execute(
        update(HeldMessage).where(HeldMessage.id == held_id, HeldMessage.decided_at.is_(None))
        .values(decided_at=now, decided_by=by[:320], decision=decision,
                decision_reason=reason or None)
        .execution_options(synchronize_session=False))
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


async def expired(session: AsyncSession, now: datetime, limit: int) -> Sequence[HeldMessage]:
    """Undecided held posts past their expiry, grouped by list."""
    return (await session.scalars(
        select(HeldMessage).where(HeldMessage.decided_at.is_(None), HeldMessage.expires_at <= now)
        .order_by(HeldMessage.list_id, HeldMessage.id).limit(limit))).all()


_UNTOLD = HeldMessage.decided_at.is_(None) & HeldMessage.notified_at.is_(None)


async def lists_with_untold(session: AsyncSession) -> Sequence[int]:
    """The lists with undecided posts their moderators have not been told of."""
    return (await session.scalars(select(HeldMessage.list_id).where(_UNTOLD).distinct())).all()


async def last_summary_at(session: AsyncSession, list_id: int) -> datetime | None:
    return await session.scalar(select(func.max(HeldMessage.notified_at)).where(
        HeldMessage.list_id == list_id, HeldMessage.notice == SUMMARY))


async def untold(session: AsyncSession, list_id: int, limit: int) -> Sequence[HeldMessage]:
    return (await session.scalars(select(HeldMessage).where(
        _UNTOLD, HeldMessage.list_id == list_id).order_by(HeldMessage.id).limit(limit))).all()


async def undecided_posts(session: AsyncSession, list_id: int,
                          limit: int) -> list[HeldPost]:
    """The list's posts waiting for a decision, oldest first, without loading their bodies."""
    rows = await session.execute(
        select(HeldMessage.id, HeldMessage.token, HeldMessage.sender, HeldMessage.subject,
               HeldMessage.reasons, HeldMessage.held_at, HeldMessage.expires_at,
               func.length(HeldMessage.raw).label("size"))
        .where(HeldMessage.list_id == list_id, HeldMessage.decided_at.is_(None))
        .order_by(HeldMessage.id).limit(limit))
    return [HeldPost(row.id, row.token, row.sender, row.subject, tuple(row.reasons),
                     row.held_at, row.expires_at, row.size) for row in rows]
