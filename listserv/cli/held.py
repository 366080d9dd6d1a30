# SPDX-License-Identifier: Apache-2.0
"""``listserv held list|show|approve|reject|discard``: held posts from the command line.

Decisions go through the same code as decisions by mail (listserv.handling.moderation);
the running server sends what they queue.
"""

import argparse
import getpass
import sys

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, print_json
from listserv.core.moderation import Decision, Verdict
from listserv.db import held as db_held
from listserv.db.engine import open_database
from listserv.db.lists import get_list
from listserv.db.models import now
from listserv.handling import moderation
from listserv.handling.context import unit_of_work
from listserv.settings import Settings

_VERDICTS = {"approve": Verdict.APPROVE, "reject": Verdict.REJECT, "discard": Verdict.DISCARD}


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("held", help=COMMANDS["held"][1])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    show_all = sub.add_parser("list", help="the posts waiting for a decision")
    show_all.add_argument("address", help="the list")
    add_json_flag(show_all)
    show_all.set_defaults(run=list_held)

    show = sub.add_parser("show", help="one held post, with the message as received")
    show.add_argument("id", type=int)
    add_json_flag(show)
    show.set_defaults(run=show_held)

    for name, verdict in _VERDICTS.items():
        decide = sub.add_parser(name, help=f"{verdict} a held post")
        decide.add_argument("id", type=int)
        if verdict is Verdict.REJECT:
            decide.add_argument("--reason", default="", help="told to the author")
        decide.set_defaults(run=decide_held, verdict=verdict)


async def list_held(args: argparse.Namespace, settings: Settings) -> int:
    moment = now()
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        mlist = await get_list(s, args.address)
        held = [db_held.describe_held(row, moment) for row in await db_held.undecided(s, mlist.id)]
    if args.json:
        print_json(held)
        return 0
    for post in held:
        print(f"{post['id']:>6}  {post['age_hours']:>6}h  {post['author']}  {post['subject']}")
        for reason in post["reasons"]:
            print(f"{'':16}{reason}")
    if not held:
        print(f"nothing held on {mlist.address}")
    return 0


async def show_held(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        held = await db_held.get_held(s, args.id)
        described = db_held.describe_held(held, now(), raw=args.json)
        raw = held.raw
    if args.json:
        print_json(described)
        return 0
    for key, value in described.items():
        print(f"{key}: {value}")
    print()
    sys.stdout.flush()
    sys.stdout.buffer.write(raw)
    return 0


async def decide_held(args: argparse.Namespace, settings: Settings) -> int:
    decision = Decision(args.verdict, getattr(args, "reason", "") or "")
    by = f"{getpass.getuser()} (command line)"
    async with open_database(settings.async_database_url) as (_, sessions), \
            unit_of_work(sessions, settings, origin="(command line)") as work:
        held = await db_held.get_held(work.session, args.id)
        print(await moderation.decide_once(work, held, decision, by))
    return 0
