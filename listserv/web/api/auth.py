# SPDX-License-Identifier: Apache-2.0
"""Who may use the admin API: ``Authorization: Bearer TOKEN``.

TOKEN is the site's LISTSERV_API_TOKEN (compared in constant time) or one
made by ``listserv api token create`` (found by its SHA-256, since only that
is stored). Anything else, or nothing, is 401 with ``WWW-Authenticate:
Bearer`` (RFC 6750). With no token configured and none made, every request
is refused.
"""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from listserv.db import api_tokens
from listserv.db.models import now
from listserv.web.context import context_of

SITE_TOKEN = "LISTSERV_API_TOKEN"  # the caller's name when it presents the site's token

_bearer = HTTPBearer(auto_error=False, description=f"{SITE_TOKEN}, or a token made by "
                     "'listserv api token create'")


def _refuse(message: str, problem: str = "") -> HTTPException:
    challenge = 'Bearer realm="listserv"' + (f', error="{problem}"' if problem else "")
    return HTTPException(401, message, headers={"WWW-Authenticate": challenge})


async def caller(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The name of the token the request presents; 401 unless it is a valid one."""
    if credentials is None:
        raise _refuse("this API needs an 'Authorization: Bearer TOKEN' header")
    token = credentials.credentials
    context = context_of(request)
    site = context.settings.api_token
    if site is not None and hmac.compare_digest(token.encode(),
                                                site.get_secret_value().encode()):
        return SITE_TOKEN
    async with context.sessions() as session:
        row = await api_tokens.find_token(session, token)
    if row is None:
        raise _refuse("the bearer token is not valid (revoked, or never made)", "invalid_token")
    moment = now()
    if api_tokens.stale(row, moment):
        async with context.sessions.begin() as session:
            await api_tokens.record_use(session, row.id, moment)
    return row.name


Caller = Annotated[str, Depends(caller)]
