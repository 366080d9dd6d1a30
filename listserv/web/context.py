# SPDX-License-Identifier: Apache-2.0
"""What every request handler of the web side reaches: settings, database, metrics."""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from listserv.db.engine import Sessions
from listserv.metrics import Metrics
from listserv.settings import Settings


@dataclass(frozen=True, slots=True)
class WebContext:
    """The running server as the web side sees it."""

    settings: Settings  # with the site's secret key resolved
    engine: AsyncEngine
    sessions: Sessions
    metrics: Metrics
    listening: Callable[[], bool]  # whether the SMTP listener accepts connections
    # For pages that only read (the archive): on SQLite these never take the write lock,
    # so a reader waits for no writer and no writer for a long download.
    reading: Sessions


def context_of(request: Request) -> WebContext:
    context: WebContext = request.app.state.listserv
    return context
