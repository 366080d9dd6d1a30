# SPDX-License-Identifier: Apache-2.0
"""``listserv lists create|list|show|set|rename|delete``."""

import argparse

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, assignment, print_json
from listserv.core.addresses import parse_mailbox
from listserv.core.list_settings import LIST_SETTINGS, parse_assignments
from listserv.db import lists as db_lists
from listserv.db.engine import open_database
from listserv.settings import Settings


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("lists", help=COMMANDS["lists"][1])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="create a list")
    create.add_argument("address")
    create.add_argument("--name", default="", help="display name, e.g. 'Operations Excellence'")
    create.add_argument("--owner", action="append", default=[], metavar="EMAIL",
                        help="an owner (repeat for several)")
    create.set_defaults(run=create_list)

    show_all = sub.add_parser("list", help="show every list")
    add_json_flag(show_all)
    show_all.set_defaults(run=show_lists)

    show = sub.add_parser("show", help="show a list and its settings")
    show.add_argument("address")
    add_json_flag(show)
    show.set_defaults(run=show_list)

    names = ", ".join(LIST_SETTINGS)
    change = sub.add_parser("set", help="change settings", description=f"Settings: {names}.")
    change.add_argument("address")
    change.add_argument("assignments", nargs="+", metavar="KEY=VALUE", type=assignment)
    change.set_defaults(run=set_list)

    rename = sub.add_parser("rename", help="move a list to a new address; the old one stays "
                            "as an alias")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.set_defaults(run=rename_list)

    remove = sub.add_parser("delete", help="delete a list with its members and archive")
    remove.add_argument("address")
    remove.set_defaults(run=delete_list)


async def create_list(args: argparse.Namespace, settings: Settings) -> int:
    owners = [parse_mailbox(owner) for owner in args.owner]
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await db_lists.create_list(s, args.address, display_name=args.name,
                                           owners=owners, domains=settings.domains)
        print(f"created {mlist.address}")
    return 0


async def show_lists(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        described = [await db_lists.describe_list(s, mlist)
                     for mlist in await db_lists.all_lists(s)]
    if args.json:
        print_json(described)
    for entry in [] if args.json else described:
        print(f"{entry['address']}\t{entry['settings']['display_name']}\t"
              f"{entry['members']} members")
    return 0


async def show_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        mlist = await db_lists.get_list(s, args.address)
        described = await db_lists.describe_list(s, mlist)
    if args.json:
        print_json(described)
        return 0
    print(f"address: {described['address']}")
    print(f"aliases: {', '.join(described['aliases']) or '-'}")
    print(f"members: {described['members']}")
    for name, value in described["settings"].items():
        print(f"{name}: {value}")
    return 0


async def set_list(args: argparse.Namespace, settings: Settings) -> int:
    values = parse_assignments(args.assignments, LIST_SETTINGS)
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await db_lists.get_list(s, args.address)
        db_lists.update_list(mlist, values)
    print(f"updated {mlist.address}: {', '.join(values)}")
    return 0


async def rename_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await db_lists.get_list(s, args.old)
        await db_lists.rename_list(s, mlist, args.new, settings.domains)
    print(f"renamed {args.old} to {mlist.address}; the old address remains an alias")
    return 0


async def delete_list(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        mlist = await db_lists.get_list(s, args.address)
        await db_lists.delete_list(s, mlist)
    print(f"deleted {mlist.address}")
    return 0
