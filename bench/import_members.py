# SPDX-License-Identifier: Apache-2.0
"""Benchmark ``listserv members import`` of 100,000 (or 1,000,000) members.

Measured: the wall time of the whole ``listserv members import`` command run
as a subprocess (interpreter start-up, reading and parsing the file, the
inserts, the commit), on a fresh SQLite database in a temporary directory,
or with --database-url on a fresh PostgreSQL database (created and dropped
here; it must not exist). The roster mixes plain ``userN@example.org`` lines
with CSV ``"Name N",userN@example.net`` lines. Afterwards ``listserv members
list --json`` must show every member.

Targets: under 10 s for 100,000 members, under 90 s for 1,000,000.

Run from the repository root:  python bench/import_members.py [--members 1000000]
    [--database-url postgresql://postgres@127.0.0.1/listserv_import]
(only 100,000 and 1,000,000 get a verdict)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from intake import scratch_database

LIST = "bench@example.com"
TARGETS = {100_000: 10.0, 1_000_000: 90.0}  # members: seconds
LISTSERV = Path(sys.executable).with_name("listserv")


def write_roster(path: Path, count: int) -> None:
    """Write count distinct addresses, every other one as a CSV name,address line."""
    lines = [f'"Name {n}",user{n}@example.net' if n % 2 else f"user{n}@example.org"
             for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def listserv(env: dict[str, str], *args: str) -> str:
    """Run one listserv command; return its standard output, or exit on failure."""
    result = subprocess.run([str(LISTSERV), *args], env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    if result.returncode != 0:
        sys.exit(f"listserv {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def timed_import(env: dict[str, str], roster: Path) -> float:
    """Import the roster into the list; return the wall time in seconds."""
    start = time.perf_counter()
    output = listserv(env, "members", "import", LIST, str(roster))
    elapsed = time.perf_counter() - start
    print(f"listserv says: {output.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", help="a PostgreSQL database to create and drop")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp, \
            scratch_database(args.database_url, Path(tmp)) as url:
        env = dict(os.environ, LISTSERV_DATABASE_URL=url, LISTSERV_LOG_LEVEL="WARNING")
        roster = Path(tmp) / "members.txt"
        write_roster(roster, args.members)
        listserv(env, "lists", "create", LIST)
        elapsed = timed_import(env, roster)
        found = len(json.loads(listserv(env, "members", "list", LIST, "--json")))

    print(f"database:          {'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"members imported:  {args.members}")
    print(f"wall time:         {elapsed:.2f} s")
    print(f"rate:              {args.members / elapsed:,.0f} members/s")
    print(f"members listed:    {found}")
    if found != args.members:
        print(f"FAIL: expected {args.members} members, the list has {found}")
        return 1
    target = TARGETS.get(args.members)
    if target is None:
        print("no verdict: the targets are for 100,000 and 1,000,000 members")
        return 0
    verdict = "PASS" if elapsed < target else "FAIL"
    print(f"{verdict}: {elapsed:.2f} s against a target of {target:.0f} s")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
