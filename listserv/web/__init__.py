# SPDX-License-Identifier: Apache-2.0
"""The web side, an ASGI app in the same process and event loop as the mail side.

It reads and writes through the same db/ queries and handling functions as
mail does. Public pages never show membership or raw addresses; a GET never
changes state. create_app() composes the routes of each module.
"""

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from listserv.web import (
    api,
    archive,
    downloads,
    feed,
    health,
    metrics,
    moderation,
    signin,
    subscribe,
    threads,
    unsubscribe,
)
from listserv.web.auth import session_middleware
from listserv.web.context import WebContext


def create_app(context: WebContext) -> Starlette:
    """The ASGI application of one running listserv."""
    routes = [*health.routes, *metrics.routes, *archive.routes, *threads.routes,
              *downloads.routes, *feed.routes,
              *unsubscribe.routes, *subscribe.routes, *signin.routes, *moderation.routes,
              api.mount(context),
              Mount("/static", StaticFiles(packages=[("listserv.web", "static")]),
                    name="static")]
    app = Starlette(routes=routes,
                    middleware=[Middleware(metrics.CountRequests, metrics=context.metrics),
                                session_middleware(context.settings)])
    app.state.listserv = context
    return app
