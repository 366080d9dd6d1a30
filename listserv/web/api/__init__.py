# SPDX-License-Identifier: Apache-2.0
"""The admin API: everything the CLI does to lists, members, held posts, the queue and the
archive, as JSON over HTTP, mounted at /api/v1 with its OpenAPI document at
/api/v1/openapi.json.

Every operation needs a bearer token (auth.py) and calls the same db/ and
handling functions as the CLI; every error is JSON (errors.py). One module
per resource. The request and response schemas are pydantic models, which
FastAPI turns into the OpenAPI document: the one place besides settings.py
where listserv uses pydantic. There is no docs UI: the site's CSP forbids the
scripts it needs, and any OpenAPI viewer reads the document.
"""

import re

from fastapi import Depends, FastAPI
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from listserv import __version__
from listserv.web.api import archive, errors, held, lists, members, queue
from listserv.web.api.auth import caller
from listserv.web.context import WebContext

PREFIX = "/api/v1"
# JSON for programs: never cached (it names people), never framed, never sniffed as HTML.
HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
           (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")]


def mount(context: WebContext) -> Mount:
    """The API at PREFIX, for the site's routes."""
    return _Mount(PREFIX, create_api(context), name="api")


class _Mount(Mount):
    """A Mount that takes every path under its prefix, even one with a line break in it
    (Starlette's pattern stops at one), so that the API's own errors, in JSON, answer it."""

    def __init__(self, path: str, app: ASGIApp, name: str) -> None:
        super().__init__(path, app, name=name)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def create_api(context: WebContext) -> FastAPI:
    """The admin API of one running listserv, to mount at PREFIX."""
    api = FastAPI(title="listserv admin API", version=__version__, docs_url=None,
                  redoc_url=None, openapi_url="/openapi.json",
                  dependencies=[Depends(caller)], responses=errors.responses(400, 401, 422))
    api.state.listserv = context
    for module in (lists, members, held, queue, archive):
        api.include_router(module.router)
    errors.install(api)
    api.add_middleware(_Headers)
    return api


class _Headers:
    """Add HEADERS to every answer of the API."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self._app(scope, receive, sending)
