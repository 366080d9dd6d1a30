# SPDX-License-Identifier: Apache-2.0
"""Secrets the site makes once and keeps in the database, so every process shares them."""

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.db.engine import Sessions
from listserv.db.models import SiteSecret

SECRET_KEY = "secret_key"


async def site_secret(sessions: Sessions, name: str = SECRET_KEY) -> str:
    """The site's secret of this name, made (256 random bits) the first time it is asked for.

    Two processes starting together may both try to make it: the one whose
    insert loses reads the winner's.
    """
    async with sessions() as session:
        found = await _read(session, name)
    if found is not None:
        return found
    try:
        async with sessions.begin() as session:
            session.add(SiteSecret(name=name, value=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass
    async with sessions() as session:
        made = await _read(session, name)
    assert made is not None
    return made


async def _read(session: AsyncSession, name: str) -> str | None:
    return await session.scalar(select(SiteSecret.value).where(SiteSecret.name == name))
