# SPDX-License-Identifier: Apache-2.0
"""``listserv serve`` and ``listserv db upgrade``."""

import argparse
import asyncio
import logging
import signal

from listserv import logs
from listserv.app import running
from listserv.cli import COMMANDS
from listserv.cli.parser import Commands
from listserv.db.engine import create_engine
from listserv.db.migrate import upgrade
from listserv.settings import Settings

log = logging.getLogger("listserv")


def add_commands(commands: Commands) -> None:
    serve = commands.add_parser("serve", help=COMMANDS["serve"][1])
    serve.set_defaults(run=run_server)
    database = commands.add_parser("db", help=COMMANDS["db"][1])
    sub = database.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("upgrade", help="apply pending migrations").set_defaults(run=upgrade_database)


async def run_server(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT, then finish what is under way and exit 0."""
    logs.configure(settings.log_level, settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running(settings):
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
