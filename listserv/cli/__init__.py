# SPDX-License-Identifier: Apache-2.0
"""The ``listserv`` command: parse arguments, load settings once, run one subcommand.

argparse, not click: the command tree is small, the standard library has
everything it needs, and one dependency fewer is one thing fewer to break.
Every failure the user can cause ends as one line on stderr and a non-zero
exit code, never a traceback.

Only the module of the command given is imported (the server's, say, loads
the web framework): --help and a short command start in a fraction of a
second.
"""

import asyncio
import importlib
import os
import sys
from collections.abc import Sequence

from listserv.cli.parser import Parser
from listserv.errors import ConfigError, ListservError

# Each command, the module under listserv.cli that defines it, and its line in --help.
COMMANDS = {
    "serve": ("serve", "run the SMTP/LMTP listeners, the workers and the web side"),
    "db": ("serve", "database maintenance"),
    "lists": ("lists", "create, change and remove lists"),
    "members": ("members", "add, change and remove members"),
    "held": ("held", "posts held for moderation"),
    "archive": ("archive", "export, import and search list archives"),
    "digests": ("digests", "send the pending digests now, or show them"),
    "queue": ("queue", "what waits to be processed or delivered, and why"),
    "dkim": ("dkim", "DKIM signing keys"),
    "api": ("api", "the admin API's bearer tokens"),
}


def build_parser(argv: Sequence[str] = ()) -> Parser:
    """The parser, with the whole definition of the command argv names (the others are
    listed by name and help only; building all of them means importing everything)."""
    parser = Parser(prog="listserv", description="An asyncio mailing-list server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((word for word in argv if not word.startswith("-")), None)
    if chosen in COMMANDS:
        importlib.import_module(f"listserv.cli.{COMMANDS[chosen][0]}").add_commands(commands)
    for name, (_, summary) in COMMANDS.items():
        if name not in commands.choices:
            commands.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(words).parse_args(words)
    from listserv.settings import load_settings  # pydantic: not needed for --help
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
