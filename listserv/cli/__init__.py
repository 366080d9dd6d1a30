# SPDX-License-Identifier: Apache-2.0
"""The ``listserv`` command: parse arguments, load settings once, run one subcommand.

argparse, not click: the command tree is small, the standard library has
everything it needs, and one dependency fewer is one thing fewer to break.
Every failure the user can cause ends as one line on stderr and a non-zero
exit code, never a traceback.
"""

import asyncio
import os
import sys
from collections.abc import Sequence

from listserv.cli import api, archive, digests, dkim, held, lists, members, queue, serve
from listserv.cli.parser import Parser
from listserv.errors import ConfigError, ListservError
from listserv.settings import load_settings


def build_parser() -> Parser:
    parser = Parser(prog="listserv", description="An asyncio mailing-list server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serve, lists, members, held, archive, digests, queue, dkim, api):
        module.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(asyncio.run(args.run(args, settings)))
    except BrokenPipeError:
        # The reader went away (listserv … | head): stop quietly, as Unix tools do, and
        # keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ConfigError as exc:
        _fail(str(exc))
        return 2
    except ListservError as exc:
        _fail(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> None:
    for line in message.splitlines():
        print(f"listserv: error: {line}", file=sys.stderr)
