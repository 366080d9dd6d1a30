# SPDX-License-Identifier: Apache-2.0
"""/metrics in Prometheus' text format, and the middleware that counts HTTP requests."""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from listserv.db.models import now
from listserv.db.queue import depths
from listserv.metrics import Metrics
from listserv.web.context import context_of


async def metrics(request: Request) -> Response:
    """Everything counted so far, with the queues read now."""
    context = context_of(request)
    async with context.sessions() as session:
        found = await depths(session)
    moment = now()
    for queue, (depth, oldest) in found.items():
        context.metrics.queue_depth.labels(queue).set(depth)
        context.metrics.queue_oldest.labels(queue).set(
            (moment - oldest).total_seconds() if oldest else 0)
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)


class CountRequests:
    """Count each request by the route that served it (its path template, never the path:
    paths carry tokens and addresses), its method and its status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            self._metrics.http_requests.labels(_template(scope), scope["method"],
                                               str(status)).inc()


def _template(scope: Scope) -> str:
    """The path template of the route that served the request, with the path of the
    mount it is in (the admin API's routes are /api/v1/…)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return "(none)"
    root = str(scope.get("root_path", ""))
    return root[len(scope.get("app_root_path", root)):] + str(template)


routes = [Route("/metrics", metrics, methods=["GET"])]
