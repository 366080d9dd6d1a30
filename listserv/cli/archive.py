# SPDX-License-Identifier: Apache-2.0
"""``listserv archive export|import|search``.

Import refuses a list whose ``archive`` setting is off: "lists with archiving
off store nothing" holds for imports too, and a mistyped list address should
not quietly receive someone's history. Export and search read what is there.
"""

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from listserv import archive
from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, print_json
from listserv.core.search import terms
from listserv.db.engine import create_engine, open_database
from listserv.db.lists import get_list
from listserv.errors import ListservError
from listserv.settings import Settings


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("archive", help=COMMANDS["archive"][1])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    dump = sub.add_parser("export", help="write the archive to an mbox file (mboxrd)")
    dump.add_argument("address", help="the list")
    dump.add_argument("--mbox", required=True, metavar="FILE", help="the mbox file to write")
    dump.set_defaults(run=export_archive)

    load = sub.add_parser("import", help="add the messages of an mbox file (a Mailman 2 "
                          "export, say); Message-IDs already archived are skipped")
    load.add_argument("address", help="the list")
    load.add_argument("file", help="the mbox file")
    load.set_defaults(run=import_archive)

    find = sub.add_parser("search", help="find the messages whose subject, text or author's "
                          "name has every word, best matches first")
    find.add_argument("address", help="the list")
    find.add_argument("query", nargs="+", help="words to look for (letter case and accents "
                      "are ignored; quotes and operators are words like any other)")
    find.add_argument("--limit", type=_positive, default=50, metavar="N",
                      help="show at most N messages (default 50)")
    add_json_flag(find)
    find.set_defaults(run=search_archive)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


@asynccontextmanager
async def reading(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session for reading only: an export must not hold SQLite's write lock for minutes."""
    async with open_database(settings.async_database_url):
        pass  # applies pending migrations, as every command does
    engine, sessions = create_engine(settings.async_database_url, read_only=True)
    try:
        async with sessions() as session:
            yield session
    finally:
        await engine.dispose()


async def export_archive(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.mbox)
    async with reading(settings) as s:
        mlist = await get_list(s, args.address)
        try:
            count = await archive.export_mbox(s, mlist.id, path)
        except OSError as exc:
            raise ListservError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"exported {count} messages from {mlist.address} to {path}")
    return 0


async def import_archive(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await get_list(s, args.address)
        if not mlist.archive:
            raise ListservError(f"{mlist.address} does not archive; to import anyway, first "
                                f"run: listserv lists set {mlist.address} archive=true")
        with tqdm(unit=" messages", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
            report = await archive.import_mbox(s, mlist.id, Path(args.file),
                                               progress=bar.update)
    for index, reason in report.bad:
        print(f"listserv: {args.file}: message {index}: {reason}", file=sys.stderr)
    print(f"imported {report.imported} messages into {mlist.address}; "
          f"{report.duplicates} already archived; {len(report.generated_ids)} given a "
          f"Message-ID; {len(report.bad)} bad entries")
    return 1 if report.bad else 0


async def search_archive(args: argparse.Namespace, settings: Settings) -> int:
    query = " ".join(args.query)
    if not terms(query):
        raise ListservError("nothing to search for: the query has no words")
    async with reading(settings) as s:
        mlist = await get_list(s, args.address)
        found = [archive.describe_hit(hit) for hit in await archive.search(
            s, mlist.id, query, limit=args.limit)]
    if args.json:
        print_json(found)
        return 0
    for entry in found:
        sent = str(entry["sent_at"] or "-")[:16].replace("T", " ")
        print(f"{entry['seq']}\t{sent}\t{entry['author_address'] or '-'}\t{entry['subject']}")
    if not found:  # on stderr: stdout stays what a script reads, empty
        print(f"no post in the archive of {mlist.address} has every word of: {query}",
              file=sys.stderr)
    return 0
