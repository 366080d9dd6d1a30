# SPDX-License-Identifier: Apache-2.0
"""Serve the web side with uvicorn on the running event loop, beside the SMTP listeners.

uvicorn would install its own SIGTERM and SIGINT handlers and raise the
signal again when it stops; here listserv serve owns the signals, and the
HTTP server stops when the app tells it to.
"""

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger(__name__)


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """uvicorn on a socket bound before it starts (port 0 allowed)."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False,
                                server_header=False, timeout_graceful_shutdown=10)
        self._server = _Embedded(config)
        self._socket = sock
        self._task: asyncio.Task[None] | None = None
        self.port: int = sock.getsockname()[1]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]),
                                         name="http")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raise what stopped it
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, let requests under way finish (up to the graceful timeout)."""
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; OSError (port in use, address not here) for the caller."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
