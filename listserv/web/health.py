# SPDX-License-Identifier: Apache-2.0
"""Health for container platforms: /healthz (the process serves) and /readyz (it can do
its work: database reachable and migrated, SMTP listener up)."""

import logging

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from listserv.db.migrate import pending
from listserv.web.context import context_of

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    """200 when ready; 503 with the reasons otherwise."""
    context = context_of(request)
    problems = []
    try:
        async with context.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        if await pending(context.engine):
            problems.append("the database schema is older than this listserv "
                            "(run listserv db upgrade)")
    except Exception as exc:  # any failure to reach the database means not ready
        problems.append(f"the database is not reachable: {exc.__class__.__name__}")
    if not context.listening():
        problems.append("the SMTP listener is not accepting connections")
    if problems:
        log.warning("not ready: %s", "; ".join(problems))
        return JSONResponse({"ready": False, "problems": problems}, status_code=503)
    return JSONResponse({"ready": True, "problems": []})


routes = [Route("/healthz", healthz, methods=["GET", "HEAD"]),
          Route("/readyz", readyz, methods=["GET", "HEAD"])]
