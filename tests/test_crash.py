# SPDX-License-Identifier: Apache-2.0
"""``listserv serve`` killed mid fan-out, and two processes sharing one PostgreSQL."""

import asyncio
from collections import Counter
from pathlib import Path

import aiosmtplib
import pytest

from listserv.workers.sender import IN_DOUBT
from tests.helpers import make_message, run_listserv
from tests.sink import Sink
from tests.test_serve import serve

CONNECTIONS = 4  # to the smarthost


def site_env(cli_env: dict[str, str], sink: Sink) -> dict[str, str]:
    return {**cli_env, "LISTSERV_SMARTHOST": f"127.0.0.1:{sink.port}",
            "LISTSERV_DOMAINS": "example.com", "LISTSERV_HOSTNAME": "listserv.test",
            "LISTSERV_DELIVERY_CONNECTIONS": str(CONNECTIONS)}


def make_list(env: dict[str, str], tmp_path: Path, count: int, *settings: str) -> list[str]:
    members = [f"member{n}@d{n % 50}.example.org" for n in range(count)]
    roster = tmp_path / "members.txt"
    roster.write_text("\n".join(members) + "\n")
    for command in (("lists", "create", "ops@example.com"),
                    ("members", "import", "ops@example.com", str(roster)),
                    ("lists", "set", "ops@example.com", *settings)):
        done = run_listserv(*command, env=env)
        assert done.returncode == 0, done.stderr
    return members


async def send(port: int, subject: str) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        await client.sendmail("member0@d0.example.org", ["ops@example.com"],
                              make_message(sender="member0@d0.example.org", subject=subject))


async def test_kill_9_during_a_personalised_fan_out_then_a_restart_delivers_to_everyone(
        cli_env: dict[str, str], sink: Sink, tmp_path: Path) -> None:
    env = site_env(cli_env, sink)
    members = make_list(env, tmp_path, 3000, "personalize=verp", "flood_max_posts=0")
    async with serve(env) as server:
        await send(server.port, "Before the crash")
        await sink.wait_for(lambda: len(sink.delivered) >= 300, timeout=60)
        server.process.kill()  # SIGKILL: no clean shutdown, leases left behind
        await server.process.wait()
    before = len(sink.delivered)
    assert before < len(members), "the fan-out finished before the kill; nothing was tested"
    async with serve(env):
        await sink.wait_for(lambda: set(sink.recipients()) >= set(members), timeout=120)
    copies = Counter(sink.recipients())
    duplicates = sum(count - 1 for count in copies.values())
    # A connection ends a member's transaction only once the results of the copy
    # IN_DOUBT before are committed: at most IN_DOUBT copies each may repeat.
    assert duplicates <= CONNECTIONS * IN_DOUBT, \
        f"{duplicates} duplicates after a kill at {before} deliveries"


async def test_two_processes_on_postgresql_deliver_each_recipient_once(
        cli_env: dict[str, str], sink: Sink, tmp_path: Path, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share a PostgreSQL database; SQLite has one writer")
    env = site_env(cli_env, sink)
    members = make_list(env, tmp_path, 2000, "flood_max_posts=0")
    subjects = [f"Post {n}" for n in range(6)]
    async with serve(env) as first, serve(env) as second:
        await asyncio.gather(*(send(server.port, subject) for server, subject in
                               zip([first, second] * 3, subjects, strict=True)))
        await sink.wait_for(lambda: len(sink.recipients()) >= len(members) * len(subjects),
                            timeout=120)
        await asyncio.sleep(1)  # a second copy, if any, would come now
    copies = Counter((str(d.message["Subject"]), r) for d in sink.delivered for r in d.recipients)
    assert len(copies) == len(members) * len(subjects)
    assert max(copies.values()) == 1
