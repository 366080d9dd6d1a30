# SPDX-License-Identifier: Apache-2.0
"""``listserv serve`` and ``listserv db upgrade``."""

import argparse
import asyncio
import gc
import logging
import signal
import sys

from listserv import logs
from listserv.app import running
from listserv.cli import COMMANDS
from listserv.cli.parser import Commands
from listserv.db.engine import create_engine
from listserv.db.migrate import upgrade
from listserv.settings import Settings

log = logging.getLogger("listserv")

# How long a thread runs Python before it offers the interpreter to another: 5 ms by
# default. The event loop gives it up at every system call and then waits that long behind
# a worker thread computing on a big post, several times per reply (#14.2).
SWITCH_INTERVAL = 0.001  # seconds


def add_commands(commands: Commands) -> None:
    serve = commands.add_parser("serve", help=COMMANDS["serve"][1])
    serve.set_defaults(run=run_server)
    database = commands.add_parser("db", help=COMMANDS["db"][1])
    sub = database.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("upgrade", help="apply pending migrations").set_defaults(run=upgrade_database)


async def run_server(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT, then finish what is under way and exit 0."""
    logs.configure(settings.log_level, settings.log_format)
    sys.setswitchinterval(SWITCH_INTERVAL)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings):
        # What start-up made (modules, settings, tables) lives as long as the process: out of
        # the collector's sight, a full collection takes 6 ms instead of 60-80 ms, all that
        # time holding the interpreter, and the event loop with it.
        gc.freeze()
        log.info("listserv is ready")
        await stop.wait()
        log.info("stopping: finishing transactions in progress")
    log.info("stopped")
    return 0


async def upgrade_database(args: argparse.Namespace, settings: Settings) -> int:
    engine, _ = create_engine(settings.async_database_url)
    try:
        applied = await upgrade(engine)
    finally:
        await engine.dispose()
    print("database upgraded" if applied else "database is up to date")
    return 0
