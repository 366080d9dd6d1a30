# SPDX-License-Identifier: Apache-2.0
"""``listserv digests send|show``: send the pending digests now, or see what they would hold."""

import argparse
from typing import Any

from listserv.cli import COMMANDS
from listserv.cli.parser import Commands, add_json_flag, print_json
from listserv.core.digests import zone
from listserv.core.policy import DeliveryMode, ListPolicy
from listserv.db.engine import open_database
from listserv.db.lists import all_lists, get_list
from listserv.handling import digests
from listserv.handling.context import unit_of_work
from listserv.settings import Settings

FORMATS = {DeliveryMode.DIGEST_MIME: "MIME", DeliveryMode.DIGEST_PLAIN: "plain"}


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser("digests", help=COMMANDS["digests"][1])
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    send = sub.add_parser("send", help="send the pending digests now, whatever the schedule "
                          "(the running server delivers them)")
    send.add_argument("address", nargs="?", help="the list (default: every list)")
    send.add_argument("--new-volume", action="store_true",
                      help="start a new volume with this digest (or the next, if none waits)")
    send.set_defaults(run=send_digests)

    show = sub.add_parser("show", help="what the list's next digest would hold, and when")
    show.add_argument("address", help="the list")
    add_json_flag(show)
    show.set_defaults(run=show_digest)


async def send_digests(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), \
            unit_of_work(sessions, settings, origin="(command line)") as work:
        s = work.session
        lists = [await get_list(s, args.address)] if args.address else list(await all_lists(s))
        lines = [_sent_line(mlist.address, await digests.send_now(
            work, mlist, new_volume=args.new_volume)) for mlist in lists]
    shown = [line for line in lines if line] or ["no digest waits to be sent"]
    for line in shown:
        print(line)
    return 0


def _sent_line(address: str, sent: digests.Sent) -> str:
    owed = (f"; {sent.owed} members who left digests got the posts until then"
            if sent.owed else "")
    posts = f"{sent.posts} post" + ("" if sent.posts == 1 else "s")
    if sent.issue is not None:
        counts = ", ".join(f"{count:,} {FORMATS[mode]}" for mode, count in
                           sent.recipients.items() if count)
        return f"{address}: {sent.issue} with {posts} to {counts}{owed}"
    if sent.posts:
        return f"{address}: no digest members; {posts} not sent as a digest{owed}"
    return f"{address}: nothing to send{owed}" if owed else ""


async def show_digest(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.async_database_url) as (_, sessions), \
            unit_of_work(sessions, settings, origin="(command line)") as work:
        mlist = await get_list(work.session, args.address)
        shown = await digests.preview(work, mlist)
        policy = await work.policy(mlist)
        data = _described(policy, shown)
    if args.json:
        print_json(data)
        return 0
    print(f"{data['list']}: next digest {data['subject']}")
    print(f"  {len(shown.topics)} posts, {-(-shown.size // 1024)} KB of the "
          f"{policy.digest.size_kb} KB that send it at once; {data['when']}")
    counts = ", ".join(f"{count} {name}" for name, count in data["recipients"].items())
    print(f"  digest members: {counts}" + (f"; {shown.owed} members left digests and get "
                                           "the posts until then" if shown.owed else ""))
    for number, topic in enumerate(shown.topics, 1):
        print(f"  {number:>4}. {topic.subject} ({topic.author})")
    return 0


def _described(policy: ListPolicy, shown: digests.Preview) -> dict[str, Any]:
    if shown.due:
        when = "due now: the running server sends it within a minute"
    elif shown.next_at is None:
        when = "sent by size alone (digest_period=never)"
    else:
        timezone = policy.digest.timezone
        local = shown.next_at.astimezone(zone(timezone))
        when = f"next scheduled {local:%Y-%m-%d %H:%M} {timezone}" + (
            "" if shown.topics else " (an empty digest is not sent)")
    return {"list": policy.address, "subject": shown.subject, "volume": shown.issue.volume,
            "issue": shown.issue.number, "posts": len(shown.topics), "size": shown.size,
            "size_limit": policy.digest.size_kb * 1024, "due": shown.due,
            "next_scheduled_at": shown.next_at, "when": when,
            "recipients": {FORMATS[mode]: count for mode, count in shown.recipients.items()},
            "owed": shown.owed,
            "topics": [{"subject": t.subject, "author": t.author} for t in shown.topics]}
