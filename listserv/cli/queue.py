# SPDX-License-Identifier: Apache-2.0
"""``listserv queue``: what waits to be processed or delivered, and why."""

import argparse
from typing import Any

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, print_json
from listserv.db.engine import open_database
from listserv.db.models import now
from listserv.db.queue import queue_summary, retry_now
from listserv.settings import Settings


def add_commands(commands: Commands) -> None:
    queue = commands.add_parser("queue", help=COMMANDS["queue"][1])
    add_json_flag(queue)
    queue.set_defaults(run=show_queue)
    actions = queue.add_subparsers(dest="action", metavar="ACTION")
    retry = actions.add_parser("retry", help="try the deliveries waiting for a retry now")
    retry.set_defaults(run=retry_queue)


async def retry_queue(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), \
            sessions.begin() as session:
        count = await retry_now(session, now())
    print(f"{count} delivery job{'s' if count != 1 else ''} will be tried again now "
          "(by the running listserv serve)")
    return 0


async def show_queue(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), sessions() as s:
        summary = await queue_summary(s)
    if args.json:
        print_json(summary)
    else:
        _print_summary(summary)
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "none"


def _print_summary(summary: dict[str, Any]) -> None:
    print(f"inbound: {_counts(summary['inbound'])}")
    for row in summary["inbound_failed"]:
        error = row["error"][0] if row["error"] else ""
        print(f"  failed #{row['id']} to {row['recipient']} {row['message_id']}: {error}")
    print(f"held: {_counts(summary['held'])}")
    print(f"pending confirmations: {summary['pending_confirmations']}")
    for row in summary["confirmations_waiting"]:
        print(f"  {row['list']}: {row['action']} {row['address']}, "
              f"expires {row['expires_at']:%Y-%m-%d %H:%M}")
    print(f"delivery jobs: {_counts(summary['delivery_jobs'])}; "
          f"{summary['recipients_waiting']} recipients waiting")
    for job in summary["delivery_problems"]:
        print(f"  job #{job['id']} ({job['kind']} {job['message_id']}) {job['state']}, "
              f"attempt {job['attempts']}, next {job['next_attempt_at']:%Y-%m-%d %H:%M:%S}: "
              f"{job['last_error']}")
