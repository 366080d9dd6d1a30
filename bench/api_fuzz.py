# SPDX-License-Identifier: Apache-2.0
"""Fuzz the admin API from its own OpenAPI document with schemathesis, every phase.

listserv runs in this process (SMTP, workers and HTTP on loopback ports, its
smarthost a dead port) on a fresh SQLite file, or a fresh PostgreSQL
database made and dropped here. It holds ops@example.com (the document's
example list) with alice@example.org, a moderator and a post held from a
nonmember. schemathesis then runs its four phases (the document's examples,
coverage of each constraint's edges, generated requests, and stateful
sequences following the links it infers) with the site's token, checking
that no answer is a 500 and that every answer's status, media type, headers
and body are what the document says.

Target: no failures.

Run from the repository root:  python bench/api_fuzz.py
  --max-examples N (default 30), --seed N, --database-url postgresql://…/NAME
"""

import argparse
import asyncio
import logging
import re
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib
import asyncpg  # type: ignore[import-untyped]
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from listserv.app import running
from listserv.core.addresses import parse_address
from listserv.core.policy import Role
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from listserv.db.engine import Sessions
from listserv.settings import Settings

TOKEN = "bench-" + "t" * 40
SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance")
HELD = (b"From: boss@partner.example\r\nTo: ops@example.com\r\nSubject: Held\r\n"
        b"Message-ID: <held@partner.example>\r\n\r\nA post from a nonmember.\r\n")


async def seed(sessions: Sessions, smtp_port: int) -> None:
    """The list the document's examples name, its members, and one held post."""
    async with sessions.begin() as session:
        mlist = await db_lists.create_list(session, "ops@example.com")
        for address, role in [("alice@example.org", Role.MEMBER),
                              ("bob@example.org", Role.MEMBER),
                              ("mo@example.org", Role.MODERATOR)]:
            await db_members.add_member(session, mlist, parse_address(address), role=role)
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=smtp_port) as client:
        await client.sendmail("boss@partner.example", ["ops@example.com"], HELD)


async def fuzz(url: str, args: argparse.Namespace) -> tuple[int, str, float]:
    command = [SCHEMATHESIS, "--no-color", "run", f"{url}/openapi.json",
               "--header", f"Authorization: Bearer {TOKEN}", "--checks", CHECKS,
               "--max-examples", str(args.max_examples), "--workers", "1",
               "--request-timeout", "10"]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:  # schemathesis keeps one in its cwd
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=cache)
        output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace"), \
        time.perf_counter() - started


async def run(database_url: str, args: argparse.Namespace) -> bool:
    settings = Settings(database_url=database_url, listen_host="127.0.0.1", smtp_port=0,
                        domains=["example.com"], hostname="listserv.bench",
                        smarthost=("127.0.0.1", 9), http_port=0, log_level="ERROR",
                        api_token=SecretStr(TOKEN), dns_nameserver=("127.0.0.1", 9))
    async with running(settings) as app:
        await seed(app.sessions, app.smtp_port)
        await app.settle()
        code, report, elapsed = await fuzz(f"http://127.0.0.1:{app.http_port}/api/v1", args)
    summary = report[report.rfind("SUMMARY"):] if "SUMMARY" in report else report[-3000:]
    print(summary.strip())
    if code != 0:  # the failures and errors, before the summary
        print(report[:report.rfind("SUMMARY")][-8000:])
    cases = re.search(r"(\d+) generated", report)
    print(f"database: {make_url(database_url).get_backend_name()}")
    print(f"test cases: {cases[1] if cases else '?'} in {elapsed:.0f} s")
    return code == 0


async def fresh_postgres(url: str, create: bool) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        if create:
            await connection.execute(f'CREATE DATABASE "{parsed.database}"')
        else:
            await connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=30)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--database-url", help="a PostgreSQL database to create and drop "
                        "(the benchmark stops if it exists)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the dead smarthost's warnings are expected
    if args.database_url:
        asyncio.run(fresh_postgres(args.database_url, create=True))
        try:
            passed = asyncio.run(run(args.database_url, args))
        finally:
            asyncio.run(fresh_postgres(args.database_url, create=False))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            passed = asyncio.run(run(f"sqlite:///{tmp}/listserv.db", args))
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
