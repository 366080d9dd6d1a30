# SPDX-License-Identifier: Apache-2.0
"""Benchmark ``listserv members import`` of 100,000 members on SQLite.

Measured: the wall time of the whole ``listserv members import`` command run
as a subprocess (interpreter start-up, reading and parsing the file, the
inserts, the commit), on a fresh SQLite database in a temporary directory.
The roster mixes plain ``userN@example.org`` lines with CSV
``"Name N",userN@example.net`` lines. Afterwards ``listserv members list
--json`` must show every member.

Target: under 10 s for 100,000 members.

Run from the repository root:  python bench/import_members.py
(--members N changes the size, but only 100,000 gets a verdict)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIST = "bench@example.com"
TARGET_SECONDS = 10.0
LISTSERV = Path(sys.executable).with_name("listserv")


def write_roster(path: Path, count: int) -> None:
    """Write count distinct addresses, every other one as a CSV name,address line."""
    lines = [f'"Name {n}",user{n}@example.net' if n % 2 else f"user{n}@example.org"
             for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def listserv(env: dict[str, str], *args: str) -> str:
    """Run one listserv command; return its standard output, or exit on failure."""
    result = subprocess.run([str(LISTSERV), *args], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp:
        env = dict(os.environ, LISTSERV_DATABASE_URL=f"sqlite:///{tmp}/bench.db",
                   LISTSERV_LOG_LEVEL="WARNING")
        roster = Path(tmp) / "members.txt"
        write_roster(roster, args.members)
        listserv(env, "lists", "create", LIST)
        elapsed = timed_import(env, roster)
        found = len(json.loads(listserv(env, "members", "list", LIST, "--json")))

    print(f"members imported:  {args.members}")
    print(f"wall time:         {elapsed:.2f} s")
    print(f"rate:              {args.members / elapsed:,.0f} members/s")
    print(f"members listed:    {found}")
    if found != args.members:
        print(f"FAIL: expected {args.members} members, the list has {found}")
        return 1
    if args.members != 100_000:
        print("no verdict: the target is for 100,000 members")
        return 0
    verdict = "PASS" if elapsed < TARGET_SECONDS else "FAIL"
    print(f"{verdict}: {elapsed:.2f} s against a target of {TARGET_SECONDS:.0f} s")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
