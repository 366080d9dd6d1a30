# SPDX-License-Identifier: Apache-2.0
"""The admin API's bearer tokens: make, find by the token presented, list, revoke.

A token is shown once, when it is made; the table keeps its SHA-256 only.
The token is 256 random bits, so a fast unsalted hash is enough (nothing to
guess), and a request finds its token by looking the digest up.
"""

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.models import ApiToken
from listserv.errors import Conflict, ListservError, NotFound

PREFIX = "lsv_"  # tells a leaked token for what it is (secret scanners, logs)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
# How stale last_used_at may get: a request writes it at most this often per token.
USE_RESOLUTION = timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str | None, now: datetime) -> tuple[str, str]:
    """Make a token; return (its name, the token). Only the digest is stored."""
    if name is None:
        name = await _free_name(session)
    elif not _NAME.fullmatch(name):
        raise ListservError(f"a token name is 1 to 64 letters, digits and ._@+- (got {name!r})")
    elif await session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"an API token named {name} exists already")
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=digest(token), created_at=now))
    await session.flush()
    return name, token


async def _free_name(session: AsyncSession) -> str:
    """token-1, token-2, …: the first that is not taken."""
    taken = set(await session.scalars(select(ApiToken.name)))
    number = 1
    while f"token-{number}" in taken:
        number += 1
    return f"token-{number}"


async def find_token(session: AsyncSession, token: str) -> ApiToken | None:
    """The stored token this one is, if any."""
    return await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))


def stale(row: ApiToken, now: datetime) -> bool:
    """Whether the token's last use is worth writing down again."""
    return row.last_used_at is None or now - row.last_used_at >= USE_RESOLUTION


async def record_use(session: AsyncSession, token_id: int, now: datetime) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id)
                          .values(last_used_at=now))


async def all_tokens(session: AsyncSession) -> Sequence[ApiToken]:
    return (await session.scalars(select(ApiToken).order_by(ApiToken.name))).all()


async def revoke_token(session: AsyncSession, name: str) -> None:
    result = await session.execute(delete(ApiToken).where(ApiToken.name == name))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no API token named {name}")


def describe_token(row: ApiToken) -> dict[str, Any]:
    """A token's name and dates; never the token, never its digest."""
    return {"name": row.name, "created_at": row.created_at.isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None}
