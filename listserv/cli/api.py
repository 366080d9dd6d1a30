# SPDX-License-Identifier: Apache-2.0
"""``listserv api token create|list|revoke``: the admin API's bearer tokens.

A token is printed once, when it is made; listserv keeps only its digest.
Tokens are made here and not through the API, so a token that leaks cannot
make others that outlive its revocation.
"""

import argparse
import sys

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, print_json
from listserv.db import api_tokens
from listserv.db.engine import open_database
from listserv.db.models import now
from listserv.settings import Settings


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("api", help=COMMANDS["api"][1])
    things = parser.add_subparsers(dest="thing", required=True, metavar="THING")
    token = things.add_parser("token", help="make, list and revoke API tokens")
    sub = token.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="make a token and print it (only this once)")
    create.add_argument("--name", help="what it is for, e.g. 'deploy-bot' (default: token-N)")
    create.set_defaults(run=create_token)

    show = sub.add_parser("list", help="the tokens' names and dates (never the tokens)")
    add_json_flag(show)
    show.set_defaults(run=list_tokens)

    revoke = sub.add_parser("revoke", help="revoke a token: it stops working at once")
    revoke.add_argument("name")
    revoke.set_defaults(run=revoke_token)


async def create_token(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        name, token = await api_tokens.create_token(s, args.name, now())
    # The token alone on stdout (TOKEN=$(listserv api token create)); the note on stderr.
    print(token)
    print(f"API token {name}: shown this once, listserv keeps only its digest; send it as "
          "'Authorization: Bearer TOKEN'", file=sys.stderr)
    return 0


async def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        described = [api_tokens.describe_token(row) for row in await api_tokens.all_tokens(s)]
    if args.json:
        print_json(described)
        return 0
    for entry in described:
        print(f"{entry['name']}\tcreated {entry['created_at'][:16].replace('T', ' ')}\t"
              f"last used {(entry['last_used_at'] or 'never')[:16].replace('T', ' ')}")
    if not described:
        print("no API tokens (listserv api token create makes one)")
    return 0


async def revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions.begin() as s:
        await api_tokens.revoke_token(s, args.name)
    print(f"revoked API token {args.name}")
    return 0
