# SPDX-License-Identifier: Apache-2.0
"""Compose a running listserv: database, intake writer, workers, SMTP and LMTP listeners,
and the web side.

running() starts each part and, on exit, tears down only what started: stop
accepting mail, let the web side finish its requests and stop, let mail
transactions in progress finish, close the remaining connections, stop the
workers and the writer, dispose of the engines.
"""

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from listserv import __version__
from listserv.core.headers import HeaderLimits
from listserv.db.engine import Sessions, create_engine, only_server, open_database
from listserv.db.site import site_secret
from listserv.errors import ConfigError
from listserv.metrics import Metrics
from listserv.settings import Settings
from listserv.smtp.handler import ListservHandler
from listserv.smtp.intake import InboundWriter
from listserv.smtp.protocol import LmtpSession, Session
from listserv.web import create_app
from listserv.web.context import WebContext
from listserv.web.server import HttpServer, bind
from listserv.workers import Workers

log = logging.getLogger(__name__)

# How long shutdown waits for SMTP transactions already under way.
SHUTDOWN_GRACE_SECONDS = 30.0
RESTART_SECONDS = 1.0


@dataclass
class App:
    """What a running listserv exposes to the CLI and to tests."""

    settings: Settings  # with the site's secret key resolved
    engine: AsyncEngine
    sessions: Sessions
    workers: Workers
    metrics: Metrics
    smtp_port: int = 0
    lmtp_port: int | None = None
    http_port: int | None = None
    handlers: list[ListservHandler] = field(default_factory=list)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until everything stored has been processed and every due job delivered."""
        async with asyncio.timeout(timeout):
            while not await self.workers.idle():
                await asyncio.sleep(0.02)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[App]:
    """Start listserv; stop it cleanly when the block exits."""
    async with AsyncExitStack() as stack:
        stack.enter_context(only_server(settings.async_database_url))
        _check_hostname(settings)
        _check_postmaster(settings)
        engine, sessions = await stack.enter_async_context(
            open_database(settings.async_database_url, settings.database_wait_seconds))
        if settings.secret_key is None:
            settings = settings.model_copy(
                update={"secret_key": SecretStr(await site_secret(sessions))})
        metrics = Metrics()
        writer = InboundWriter(engine, metrics)
        workers = Workers(settings, engine, sessions, metrics, intake_busy=writer.busy,
                          write_lock=writer.write_lock)
        writer.on_commit = workers.inbound_ready.set
        await workers.release_leases()
        app = App(settings, engine, sessions, workers, metrics)
        stack.push_async_callback(writer.close)
        stack.push_async_callback(_cancel, asyncio.create_task(writer.run(), name="writer"))
        loops = [asyncio.create_task(_supervised(name, loop), name=name)
                 for name, loop in (("processor", workers.process_inbound),
                                    ("delivery", workers.deliver),
                                    ("housekeeping", workers.keep_house))]
        stack.push_async_callback(_stop_workers, workers, loops)
        # Reads that must never wait for a writer (RCPT TO, web pages) use a read-only engine.
        reader, lookups = create_engine(settings.async_database_url, read_only=True)
        stack.push_async_callback(reader.dispose)
        servers = await _listen_for_mail(stack, app, writer, lookups)
        if settings.http_port is not None:
            await _serve_web(stack, app, servers, lookups)
        # The first thing shutdown does: no new mail (the web side then finishes its
        # requests while the mail transactions under way finish theirs).
        stack.callback(_close, servers)
        yield app


async def _listen_for_mail(stack: AsyncExitStack, app: App, writer: InboundWriter,
                           lookups: Sessions) -> list[asyncio.Server]:
    """Bind the SMTP (and LMTP) listeners; on exit they stop accepting and drain."""
    settings = app.settings
    connections: weakref.WeakSet[SMTP] = weakref.WeakSet()
    servers: list[asyncio.Server] = []
    stack.push_async_callback(_stop_accepting, app, servers, connections)
    listeners: list[tuple[str, str, int, type[Session]]] = [
        ("SMTP", "LISTSERV_SMTP_PORT", settings.smtp_port, Session)]
    if settings.lmtp_port is not None:
        listeners.append(("LMTP", "LISTSERV_LMTP_PORT", settings.lmtp_port, LmtpSession))
    for name, setting, port, protocol in listeners:
        handler = ListservHandler(lookups, settings.domains, writer.store,
                                  lmtp=protocol is LmtpSession, hostname=settings.hostname,
                                  limits=HeaderLimits(settings.max_header_size,
                                                      settings.max_header_addresses),
                                  metrics=app.metrics,
                                  postmaster=settings.postmaster is not None)
        app.handlers.append(handler)
        with _listening(setting, settings.listen_host, port):
            server = await asyncio.get_running_loop().create_server(
                _factory(protocol, handler, settings, connections), settings.listen_host, port)
        bound = server.sockets[0].getsockname()[1]
        if protocol is LmtpSession:
            app.lmtp_port = bound
        else:
            app.smtp_port = bound
        servers.append(server)
        log.info("listening for %s on %s:%d", name, settings.listen_host, bound)
    writer.underway = lambda: sum(map(_in_transaction, connections))
    return servers


async def _serve_web(stack: AsyncExitStack, app: App, servers: list[asyncio.Server],
                     reading: Sessions) -> None:
    """Serve the web side; on exit it stops first, before the mail side."""
    settings = app.settings
    assert settings.http_port is not None
    context = WebContext(settings, app.engine, app.sessions, app.metrics,
                         listening=lambda: all(server.is_serving() for server in servers),
                         reading=reading)
    with _listening("LISTSERV_HTTP_PORT", settings.http_host, settings.http_port):
        sock = bind(settings.http_host, settings.http_port)
    http = HttpServer(create_app(context), sock)
    await http.start()
    stack.push_async_callback(http.stop)
    app.http_port = http.port
    log.info("listening for HTTP on %s:%d", settings.http_host, http.port)


@contextmanager
def _listening(setting: str, host: str, port: int) -> Iterator[None]:
    """Turn a port that cannot be bound into one line naming its setting."""
    try:
        yield
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc}") from None


def _check_hostname(settings: Settings) -> None:
    """A host name without a dot (a container's id, say) ends up in greetings and
    Message-IDs, where receivers take it for a misconfigured server."""
    if "." not in settings.hostname.strip("."):
        log.warning("LISTSERV_HOSTNAME is %r, not a fully qualified name; set it to the name "
                    "the smarthost and the world know this server by", settings.hostname)


def _check_postmaster(settings: Settings) -> None:
    if settings.postmaster is None:
        log.warning("LISTSERV_POSTMASTER is not set: mail to postmaster@ the served domains "
                    "is refused (550 5.1.1); RFC 5321 4.5.1 wants it taken, so set it unless "
                    "an MTA in front of listserv takes postmaster@ itself")


def _factory(protocol: type[Session], handler: ListservHandler, settings: Settings,
             connections: "weakref.WeakSet[SMTP]") -> Callable[[], SMTP]:
    def make() -> SMTP:
        connection = protocol(handler, data_size_limit=settings.max_message_size,
                              hostname=settings.hostname, ident=f"listserv {__version__}",
                              enable_SMTPUTF8=True)
        connections.add(connection)
        return connection

    return make


def _close(servers: list[asyncio.Server]) -> None:
    for server in servers:
        server.close()


async def _stop_accepting(app: App, servers: list[asyncio.Server],
                          connections: "weakref.WeakSet[SMTP]") -> None:
    """Stop accepting, wait for transactions under way, then close every connection."""
    _close(servers)
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    while time.monotonic() < deadline and (
            any(handler.in_flight for handler in app.handlers)
            or any(_in_transaction(connection) for connection in connections)):
        await asyncio.sleep(0.05)
    for connection in list(connections):
        if connection.transport is not None:
            connection.transport.close()


def _in_transaction(connection: SMTP) -> bool:
    envelope = getattr(connection, "envelope", None)
    return connection.transport is not None and bool(envelope and envelope.mail_from)


async def _supervised(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Run a worker loop until it returns; if it fails (the database went away), restart it."""
    while True:
        try:
            await loop()
            return
        except Exception:
            log.exception("%s stopped on an error; restarting in %.0f s", name, RESTART_SECONDS)
            await asyncio.sleep(RESTART_SECONDS)


async def _stop_workers(workers: Workers, loops: list["asyncio.Task[None]"]) -> None:
    """Let the loops finish the unit of work in hand; cancel them only past the grace time."""
    workers.stop()
    _, late = await asyncio.wait(loops, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in late:
        await _cancel(task)
    await workers.give_back()


async def _cancel(task: "asyncio.Task[None]") -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
