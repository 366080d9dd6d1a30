# SPDX-License-Identifier: Apache-2.0
"""Benchmark SMTP intake: listserv storing durably against the same listener storing nothing.

Measured: the wall time for 2,000 messages of about 20 KB sent to
ops@example.com over 4 concurrent aiosmtplib connections (each reusing one
SMTP session), after a few warm-up messages that are not counted. Three
servers take the same messages, each in its own process, one after another:

  sink      aiosmtpd's Sink handler: the protocol alone, for reference
  ceiling   listserv's ListservHandler on the same aiosmtpd listener, with a
            store function that does nothing (RCPT TO still looks the list up)
  listserv  ``listserv serve``, committing every message to the inbound table
            before it answers 250 (its workers run meanwhile, as in production)

Afterwards the inbound table must hold exactly the messages sent to listserv,
and ``listserv serve`` must exit 0 on SIGTERM.

Target: the listserv rate is at least 80% of the ceiling rate.

Run from the repository root:  python bench/intake.py [--messages N] [--connections C]
                                   [--database-url postgresql://postgres@127.0.0.1/NEWDB]
With --database-url the benchmark creates that PostgreSQL database and drops it
afterwards; it refuses to touch a database that already exists.
"""

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg  # type: ignore[import-untyped]
from aiosmtpd.handlers import Sink
from aiosmtpd.smtp import SMTP
from processes import cpu_seconds, free_port, postgres_cpu_seconds, wait_for_port
from sqlalchemy.engine import make_url

from listserv.db.engine import create_engine
from listserv.db.migrate import upgrade
from listserv.settings import DRIVERS
from listserv.smtp.handler import ListservHandler
from listserv.smtp.intake import Received

LIST = "ops@example.com"
SENDER = "alice@example.org"
MESSAGE_SIZE = 20 * 1024
WARMUP_PER_CONNECTION = 3
TARGET_RATIO = 0.80
RUN_TIMEOUT = 300.0  # seconds for the warm-ups and all timed turns
LISTSERV = Path(sys.executable).with_name("listserv")

WORDS = ("the valve on the north manifold was replaced during the night shift and "
         "pressure held steady at forty bar until the morning handover when the crew "
         "noticed a small drift on gauge three which we logged for inspection please "
         "check the maintenance schedule before friday because the supply boat will "
         "bring spare seals gaskets and the new flow meter that operations asked for "
         "last month thanks to everyone who joined the call about corrosion under "
         "insulation our findings agree with the survey from the other platform").split()


# --- messages -------------------------------------------------------------------------

def paragraphs(rng: random.Random, count: int) -> list[str]:
    """Make paragraphs of plain prose, wrapped well under 78 characters a line, CRLF-ended."""
    made = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(40, 120))]
        text = " ".join(words).capitalize() + "."
        made.append(textwrap.fill(text, width=72).replace("\n", "\r\n"))
    return made


def make_message(number: int, pool: Sequence[str], rng: random.Random) -> bytes:
    """One message of about MESSAGE_SIZE bytes with its own Message-ID."""
    body: list[str] = [f"Report number {number}.", ""]
    size = 0
    while size < MESSAGE_SIZE:
        paragraph = rng.choice(pool)
        body += [paragraph, ""]
        size += len(paragraph) + 2
    headers = [
        f"From: Alice Example <{SENDER}>",
        f"To: {LIST}",
        f"Subject: Shift report {number}",
        "Date: Thu, 27 Nov 2025 10:00:00 +0000",
        f"Message-ID: <bench.{number}.{rng.getrandbits(64):016x}@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
    ]
    return "\r\n".join([*headers, "", *body]).encode()


def make_messages(count: int) -> list[bytes]:
    rng = random.Random(2025)
    pool = paragraphs(rng, 300)
    return [make_message(number, pool, rng) for number in range(count)]


# --- the comparison servers, each run as a child process of the benchmark -------------

async def store_nothing(messages: Sequence[Received]) -> None:
    """A store function that keeps nothing: what intake costs without the database."""
    return None


async def serve(handler: Any, port: int) -> None:
    """Serve SMTP on 127.0.0.1:port as listserv.app builds it, until SIGTERM."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=25 * 1024 * 1024, hostname="bench",
                     ident="listserv", enable_SMTPUTF8=True),
        "127.0.0.1", port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


async def serve_null(port: int, database_url: str) -> None:
    """The ceiling: listserv's handler with a store function that does nothing."""
    scheme, _, rest = database_url.partition("://")
    engine, _ = create_engine(f"{DRIVERS[scheme]}://{rest}")
    # RCPT lookups run on a read-only engine, exactly as listserv.app sets them up.
    reader, lookups = create_engine(f"{DRIVERS[scheme]}://{rest}", read_only=True)
    try:
        await upgrade(engine)
        await serve(ListservHandler(lookups, ["example.com"], store_nothing, lmtp=False), port)
    finally:
        await reader.dispose()
        await engine.dispose()


# --- the client -----------------------------------------------------------------------

@dataclass
class Server:
    """One server under test, its client connections and what its timed turns added up to."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    # Stored messages left for its workers: they process them between its turns, so
    # that they do not take the machine from the other servers' turns.
    backlog: Callable[[], Awaitable[tuple[int, int]]] | None = None
    clients: list[aiosmtplib.SMTP] = field(default_factory=list)
    messages: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    database: float = 0.0
    processed: int = 0  # messages its workers processed during its turns
    turns: list[float] = field(default_factory=list)  # messages/s of each turn

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def send(smtp: aiosmtplib.SMTP, messages: Sequence[bytes]) -> None:
    for message in messages:
        await smtp.sendmail(SENDER, [LIST], message)


async def send_over(server: Server, messages: Sequence[bytes]) -> None:
    connections = len(server.clients)
    await asyncio.gather(*(send(client, messages[i::connections])
                           for i, client in enumerate(server.clients)))


async def processed(server: Server) -> int:
    return (await server.backlog())[1] if server.backlog else 0


async def drain(server: Server) -> None:
    """Wait until the server's workers have processed everything stored."""
    while server.backlog:
        stored, done = await server.backlog()
        if done == stored:
            return
        await asyncio.sleep(0.2)


async def timed_turn(server: Server, messages: Sequence[bytes],
                     database_cpu: Callable[[], float]) -> None:
    """Send messages to the server and add the wall time and CPU they took to its totals."""
    before = await processed(server)
    cpu, database = cpu_seconds(server.process.pid), database_cpu()
    start = time.perf_counter()
    await send_over(server, messages)
    seconds = time.perf_counter() - start
    server.cpu += cpu_seconds(server.process.pid) - cpu
    server.database += database_cpu() - database
    server.processed += await processed(server) - before
    server.turns.append(len(messages) / seconds)
    server.seconds += seconds
    server.messages += len(messages)
    await drain(server)


async def send_all(servers: Sequence[Server], warmup: Sequence[bytes], timed: Sequence[bytes],
                   args: argparse.Namespace, database_cpu: Callable[[], float]) -> None:
    """Warm every server up, then send the timed messages in turns.

    The machine is shared: load from elsewhere comes and goes within seconds, so the
    servers are measured side by side in short turns rather than one after another.
    """
    for server in servers:
        server.clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port)
                          for _ in range(args.connections)]
        await asyncio.gather(*(client.connect() for client in server.clients))
    try:
        for server in servers:
            await send_over(server, warmup)
            await drain(server)
        size = -(-len(timed) // args.rounds)
        for start in range(0, len(timed), size):
            for server in servers:
                await timed_turn(server, timed[start:start + size], database_cpu)
    finally:
        await asyncio.gather(*(client.quit() for server in servers for client in server.clients),
                             return_exceptions=True)


# --- running servers ------------------------------------------------------------------

@contextmanager
def server_process(argv: Sequence[str], env: dict[str, str], port: int,
                   log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server, wait until it listens, and stop it with SIGTERM; it must exit 0."""
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, Path(argv[0]).name)
        yield process
        process.send_signal(signal.SIGTERM)
        if process.wait(timeout=40) != 0:
            raise RuntimeError(f"server exited with {process.returncode} after SIGTERM")
    except BaseException:
        print(f"--- {log.name} ---\n{log.read_text(errors='replace')[-4000:]}", file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def report(server: Server, postgres: bool) -> None:
    per_message = 1000 / server.messages
    print(f"{server.name + ':':10} {server.messages} messages in {server.seconds:6.2f} s = "
          f"{server.rate:7.1f} messages/s   (server CPU {server.cpu * per_message:.2f} ms/message"
          + (f", PostgreSQL's {server.database * per_message:.2f}" if postgres else "") + ")")
    print(f"{'':10} turns: {', '.join(f'{rate:.0f}' for rate in server.turns)} messages/s")


# --- the database ---------------------------------------------------------------------

def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def asyncpg_dsn(database_url: str, database: str | None = None) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.set(database=database or url.database).render_as_string(hide_password=False)


async def create_postgres(database_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url, "postgres"))
    try:
        await connection.execute(f'CREATE DATABASE "{make_url(database_url).database}"')
    finally:
        await connection.close()


async def drop_postgres(database_url: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url, "postgres"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}"')
    finally:
        await connection.close()


COUNT_INBOUND = "SELECT count(*), count(*) FILTER (WHERE state <> 'incoming') FROM inbound"


async def count_inbound(database_url: str) -> tuple[int, int]:
    """The rows in the inbound table, and how many of them the workers processed."""
    if is_postgres(database_url):
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            stored, done = await connection.fetchrow(COUNT_INBOUND)
        finally:
            await connection.close()
    else:
        with sqlite3.connect(str(make_url(database_url).database)) as connection:
            stored, done = connection.execute(COUNT_INBOUND).fetchone()
    return int(stored), int(done)


@contextmanager
def scratch_database(database_url: str | None, tmp: Path) -> Iterator[str]:
    """A fresh database for the run: a SQLite file in tmp, or a new PostgreSQL database."""
    if database_url is None:
        yield f"sqlite:///{tmp}/intake.db"
        return
    if not is_postgres(database_url):
        sys.exit("--database-url: only postgresql:// URLs (SQLite is the default)")
    try:
        asyncio.run(create_postgres(database_url))
    except asyncpg.DuplicateDatabaseError:
        sys.exit(f"--database-url: {make_url(database_url).database} exists; name a new one")
    try:
        yield database_url
    finally:
        asyncio.run(drop_postgres(database_url))


# --- the benchmark --------------------------------------------------------------------

def create_list(env: dict[str, str]) -> None:
    result = subprocess.run([str(LISTSERV), "lists", "create", LIST], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        sys.exit(f"listserv lists create failed:\n{result.stderr}")


def run(args: argparse.Namespace, tmp: Path, database_url: str) -> bool:
    """Measure the three servers and print the figures; return whether the target is met."""
    # The smarthost is a loopback port nobody listens on: no bench mail leaves this machine.
    env = dict(os.environ, LISTSERV_DATABASE_URL=database_url, LISTSERV_LISTEN_HOST="127.0.0.1",
               LISTSERV_HTTP_PORT="",
               LISTSERV_DOMAINS="example.com", LISTSERV_LOG_LEVEL="WARNING",
               LISTSERV_SMARTHOST=f"127.0.0.1:{free_port()}")
    create_list(env)
    messages = make_messages(WARMUP_PER_CONNECTION * args.connections + args.messages)
    average = sum(map(len, messages)) / len(messages)
    print(f"{args.messages} messages of {average / 1024:.1f} KiB over {args.connections} "
          f"connections; database {make_url(database_url).get_backend_name()}")

    me = [sys.executable, str(Path(__file__).resolve())]
    ports = [free_port() for _ in range(3)]
    commands = [("sink", [*me, "--sink-server", str(ports[0])], env),
                ("ceiling", [*me, "--null-server", str(ports[1]), database_url], env),
                ("listserv", [str(LISTSERV), "serve"], dict(env, LISTSERV_SMTP_PORT=str(ports[2])))]
    # On SQLite the database works inside the server process; PostgreSQL (when it runs on
    # this machine) takes CPU of its own from the same cores.
    postgres = is_postgres(database_url)
    with ExitStack() as stack:
        servers = [Server(name, stack.enter_context(server_process(argv, env, port,
                                                                   tmp / f"{name}.log")),
                          port, partial(count_inbound, database_url) if name == "listserv"
                          else None)
                   for (name, argv, env), port in zip(commands, ports, strict=True)]
        warmup = messages[:WARMUP_PER_CONNECTION * args.connections]
        asyncio.run(asyncio.wait_for(
            send_all(servers, warmup, messages[len(warmup):], args,
                     postgres_cpu_seconds if postgres else lambda: 0.0),
            RUN_TIMEOUT))
    for server in servers:
        report(server, postgres)
    sink, ceiling, listserv = (server.rate for server in servers)

    (stored, _), expected = asyncio.run(count_inbound(database_url)), len(messages)
    print(f"inbound rows: {stored} (expected {expected}: {args.messages} + warm-up); processed "
          f"during the turns: {servers[2].processed} (in a flood the workers give way to intake)")
    ratio = listserv / ceiling
    print(f"listserv/ceiling: {ratio:.1%} (sink/ceiling: {sink / ceiling:.1%})")
    verdict = stored == expected and ratio >= TARGET_RATIO
    print(f"{'PASS' if verdict else 'FAIL'}: listserv at {ratio:.1%} of the ceiling, "
          f"target {TARGET_RATIO:.0%}; {'all' if stored == expected else 'NOT all'} "
          "messages stored")
    return verdict


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=4,
                        help="turns the servers take, each with its share of the messages")
    parser.add_argument("--database-url", help="postgresql://USER@HOST/NEWDB to run listserv "
                        "on PostgreSQL (created and dropped by the benchmark)")
    parser.add_argument("--null-server", nargs=2, metavar=("PORT", "DBURL"),
                        help="internal: run the ceiling server")
    parser.add_argument("--sink-server", type=int, metavar="PORT",
                        help="internal: run the Sink server")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.null_server:
        asyncio.run(serve_null(int(args.null_server[0]), args.null_server[1]))
        return 0
    if args.sink_server:
        asyncio.run(serve(Sink(), args.sink_server))
        return 0
    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp, \
            scratch_database(args.database_url, Path(tmp)) as database_url:
        return 0 if run(args, Path(tmp), database_url) else 1


if __name__ == "__main__":
    sys.exit(main())
