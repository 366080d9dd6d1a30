# SPDX-License-Identifier: Apache-2.0
"""``listserv members add|import|export|list|set|remove|invite``."""

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, assignment, print_json
from listserv.core.addresses import parse_mailbox, shown
from listserv.core.list_settings import MEMBER_SETTINGS, parse_assignments
from listserv.core.policy import Role
from listserv.core.roster import Roster, decode_roster, read_roster, split_roster, write_roster
from listserv.db import members as db_members
from listserv.db.engine import open_database
from listserv.db.lists import get_list
from listserv.errors import ListservError
from listserv.handling import subscriptions
from listserv.handling.context import unit_of_work
from listserv.settings import Settings


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("members", help=COMMANDS["members"][1])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="subscribe addresses (no confirmation is asked)")
    add.add_argument("address", help="the list")
    add.add_argument("emails", nargs="+", metavar="EMAIL",
                     help="alice@example.org or 'Alice Example <alice@example.org>'")
    add.add_argument("--role", choices=[role.value for role in Role], default=Role.MEMBER.value)
    add.set_defaults(run=add_members)

    load = sub.add_parser("import", help="subscribe everyone in a file: one address per line, "
                          "or CSV name,address")
    load.add_argument("address", help="the list")
    load.add_argument("file", help="the file, or - for standard input")
    load.set_defaults(run=import_members)

    dump = sub.add_parser("export", help="write the members as CSV name,address")
    dump.add_argument("address", help="the list")
    dump.add_argument("file", nargs="?", default="-", help="the file (default: standard output)")
    dump.set_defaults(run=export_members)

    show = sub.add_parser("list", help="show the members")
    show.add_argument("address", help="the list")
    add_json_flag(show)
    show.set_defaults(run=list_members)

    names = ", ".join(MEMBER_SETTINGS)
    change = sub.add_parser("set", help="change a member", description=f"Settings: {names}.")
    change.add_argument("address", help="the list")
    change.add_argument("email")
    change.add_argument("assignments", nargs="+", metavar="KEY=VALUE", type=assignment)
    change.set_defaults(run=set_member)

    remove = sub.add_parser("remove", help="unsubscribe addresses (no goodbye is sent)")
    remove.add_argument("address", help="the list")
    remove.add_argument("emails", nargs="+", metavar="EMAIL")
    remove.set_defaults(run=remove_members)

    invite = sub.add_parser("invite", help="invite addresses by mail; replying subscribes")
    invite.add_argument("address", help="the list")
    invite.add_argument("emails", nargs="+", metavar="EMAIL",
                        help="alice@example.org or 'Alice Example <alice@example.org>'")
    invite.set_defaults(run=invite_members)


async def add_members(args: argparse.Namespace, settings: Settings) -> int:
    parsed = [parse_mailbox(email) for email in args.emails]
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await get_list(s, args.address)
        for name, mailbox in parsed:
            await db_members.add_member(s, mlist, mailbox, display_name=name,
                                        role=Role(args.role))
    for _, mailbox in parsed:
        print(f"added {mailbox} to {shown(mlist.address)} as {args.role}")
    return 0


def _read_roster(file: str) -> Roster:
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise ListservError(f"cannot read {file}: {exc.strerror}") from None
    try:
        return split_roster(read_roster(decode_roster(data)))
    except ListservError as exc:
        raise ListservError(f"{file}: {exc}") from None


async def import_members(args: argparse.Namespace, settings: Settings) -> int:
    entries, errors = _read_roster(args.file)
    for error in errors:
        print(f"listserv: {args.file}: line {error.line}: {error.message}", file=sys.stderr)
    bar = tqdm(total=len(entries), unit=" members", file=sys.stderr,
               disable=not sys.stderr.isatty())
    async with open_database(settings.async_database_url) as (_, sessions):
        async with sessions.begin() as s:
            mlist = await get_list(s, args.address)
            result = await db_members.import_members(s, mlist, entries, progress=bar.update)
        await db_members.after_import(sessions, result)
    bar.close()
    print(f"imported {result.added} members into {shown(mlist.address)}; "
          f"{len(result.already_members)} already members; {len(errors)} invalid lines")
    return 1 if errors else 0


async def export_members(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        mlist = await get_list(s, args.address)
        text = write_roster(db_members.roster_rows(await db_members.list_members(s, mlist)))
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
    return 0


async def list_members(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        mlist = await get_list(s, args.address)
        described = [db_members.describe_member(m)
                     for m in await db_members.list_members(s, mlist)]
    if args.json:
        print_json(described)
        return 0
    for entry in described:
        flags = " moderated" if entry["moderated"] else ""
        print(f"{entry['address']}\t{entry['role']}\t{entry['delivery_mode']}\t"
              f"{entry['delivery_status']}{flags}")
    return 0


async def set_member(args: argparse.Namespace, settings: Settings) -> int:
    values = parse_assignments(args.assignments, MEMBER_SETTINGS)
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await get_list(s, args.address)
        member = await db_members.get_member(s, mlist, args.email)
        db_members.update_member(member, values)
    print(f"updated {member.address} on {shown(mlist.address)}: {', '.join(values)}")
    return 0


async def remove_members(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await get_list(s, args.address)
        for email in args.emails:
            await db_members.remove_member(s, await db_members.get_member(s, mlist, email))
    for email in args.emails:
        print(f"removed {email} from {shown(mlist.address)}")
    return 0


async def invite_members(args: argparse.Namespace, settings: Settings) -> int:
    """Queue an invitation for each address; the running server sends them."""
    parsed = [parse_mailbox(email) for email in args.emails]
    async with open_database(settings.async_database_url) as (_, sessions), \
            unit_of_work(sessions, settings, origin="(command line)") as work:
        mlist = await get_list(work.session, args.address)
        invited = [(mailbox, await subscriptions.invite(work, mlist, mailbox, name))
                   for name, mailbox in parsed]
    for mailbox, sent in invited:
        print(f"invited {mailbox} to {shown(mlist.address)}" if sent
              else f"{mailbox} is a member of {shown(mlist.address)} already; not invited")
    return 0
