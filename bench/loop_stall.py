# SPDX-License-Identifier: Apache-2.0
"""Benchmark the event loop's longest stall while ``listserv serve`` works on big posts.

The SMTP listener, the web side and the workers of ``listserv serve`` share
one event loop: whatever a worker computes on it, no client is answered
meanwhile. This starts ``listserv serve`` (SQLite, a DKIM key made by
``listserv dkim keygen``, so every post is checked as received and its
copies signed and sealed) with its smarthost the aiosmtpd sink of
bench/post_path.py, and two lists:

- ops@example.com, 300 members, DMARC mitigation on (its DNS is a dead
  port, so every lookup fails and counts as p=reject: From munged);
- full@example.com, 3 members, personalize=full (a footer per member: each
  copy parsed, rendered and signed on its own).

A probe process asks the server every 10 ms, each on a connection of its
own: an SMTP NOOP (a session opened once), an SMTP greeting (a new
connection each time) and an HTTP GET /healthz (a new connection too: on a kept one
the server's second write waits for the probe's delayed ACK, 40 ms). A reply is
late by whatever stalls the loop, so the longest reply is about the longest
stall (at most 10 ms less: the probe asks every 10 ms).

First 3 s idle (what the machine itself adds to a reply: the noise floor),
then the big posts of bench/big_messages.py (those SMTP can carry: folded
Subject, encoded Subject, 7,000 header fields, 990 people in To and Cc,
multipart 90 deep, 2,000 parts, a base64 attachment) go to both lists, one
after the other, and the probe runs until the sink has every copy.
Prints per probe its replies, p50, p99 and the longest, idle and busy.

Target: the longest reply of every probe while busy under 100 ms.

Run from the repository root:  python bench/loop_stall.py [--shapes a,b] [--members N]
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TextIO

import aiosmtplib
from big_messages import HOST, Shape, make_key, shapes
from big_messages import listserv as run_cli
from post_path import AiosmtpdSink, write_roster
from processes import free_port, wait_for_port

LISTSERV = Path(sys.executable).with_name("listserv")
LISTS = {"ops@example.com": 300, "full@example.com": 3}
AUTHOR = "alice@example.org"  # in write_roster's rosters
SHAPES = ("folded-subject", "encoded-subject", "many-fields", "to-cc", "nested-90",
          "parts-2000", "base64-attachment")
PROBES = ("noop", "greeting", "healthz")
EVERY = 0.01  # seconds between a probe's requests
IDLE_SECONDS = 3.0
TARGET_MS = 100.0
DELIVERY_TIMEOUT = 300.0
PROBE_TIMEOUT = 30.0


# --- the probe, a process of its own ----------------------------------------------------

async def _timed(record: TextIO, kind: str, ask: Coroutine[Any, Any, None]) -> None:
    started = time.time()
    await asyncio.wait_for(ask, PROBE_TIMEOUT)
    record.write(f"{started:.6f} {kind} {(time.time() - started) * 1000:.3f}\n")


async def _probe_noop(port: int, record: TextIO) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    while True:
        async def ask() -> None:
            writer.write(b"NOOP\r\n")
            await reader.readline()
        await _timed(record, "noop", ask())
        await asyncio.sleep(EVERY)


async def _probe_greeting(port: int, record: TextIO) -> None:
    while True:
        async def ask() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.readline()
            writer.write(b"QUIT\r\n")
            writer.close()
        await _timed(record, "greeting", ask())
        await asyncio.sleep(EVERY)


async def _probe_healthz(port: int, record: TextIO) -> None:
    while True:
        async def ask() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            await reader.read()
            writer.close()
        await _timed(record, "healthz", ask())
        await asyncio.sleep(EVERY)


async def probe(smtp_port: int, http_port: int, out: Path) -> None:
    """Probe until killed, writing a line 'start kind milliseconds' to out for each reply."""
    with out.open("w", buffering=1) as record:
        await asyncio.gather(_probe_noop(smtp_port, record), _probe_greeting(smtp_port, record),
                             _probe_healthz(http_port, record))


# --- the run ----------------------------------------------------------------------------

def prepare(work: Path, sink_port: int, key_file: Path, members: int) -> dict[str, str]:
    env = dict(os.environ, LISTSERV_DATABASE_URL=f"sqlite:///{work / 'listserv.db'}",
               LISTSERV_LISTEN_HOST="127.0.0.1", LISTSERV_SMARTHOST=f"127.0.0.1:{sink_port}",
               LISTSERV_DOMAINS="example.com", LISTSERV_HOSTNAME=HOST,
               LISTSERV_LOG_LEVEL="WARNING", LISTSERV_DKIM_PRIVATE_KEY=str(key_file),
               LISTSERV_DNS_NAMESERVER=f"127.0.0.1:{free_port()}",
               LISTSERV_SMTP_PORT=str(free_port()), LISTSERV_HTTP_PORT=str(free_port()))
    env.pop("LISTSERV_CONFIG", None)
    for address, count in LISTS.items():
        count = members if count > 3 else count
        run_cli(env, "lists", "create", address)
        roster = work / f"{address}.txt"
        write_roster(roster, count)
        run_cli(env, "members", "import", address, str(roster))
        run_cli(env, "lists", "set", address, "max_message_kb=0", "max_recipients=0",
                "require_explicit_destination=false", "footer=Ops list",
                *(("personalize=full",) if count <= 3 else
                  ("dmarc_mitigation=munge_from", "dmarc_on_dns_failure=mitigate")))
    return env


def summary(lines: list[str], since: float, until: float) -> dict[str, list[float]]:
    taken: dict[str, list[float]] = {kind: [] for kind in PROBES}
    for line in lines:
        started, kind, ms = line.split()
        if since <= float(started) < until:
            taken[kind].append(float(ms))
    return taken


def row(kind: str, phase: str, ms: list[float]) -> str:
    if not ms:
        return f"{kind:9} {phase:5} {0:7}"
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return (f"{kind:9} {phase:5} {len(ms):7} {statistics.median(ms):8.1f} {p99:8.1f}"
            f" {max(ms):8.1f}")


async def send(port: int, selected: list[Shape]) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120) as client:
        for shape in selected:
            await client.sendmail(AUTHOR, list(LISTS), shape.raw)


async def run(selected: list[Shape], work: Path, members: int) -> bool:
    key_file, _ = make_key(work)
    sink = AiosmtpdSink(work)
    sink.start()
    env = prepare(work, sink.port, key_file, members)
    smtp_port, http_port = int(env["LISTSERV_SMTP_PORT"]), int(env["LISTSERV_HTTP_PORT"])
    expected = len(selected) * (members + LISTS["full@example.com"])
    with (work / "serve.log").open("wb") as log:
        server = subprocess.Popen([str(LISTSERV), "serve"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    probe_out = work / "probe.txt"
    prober = None
    try:
        wait_for_port(smtp_port, server, "listserv serve")
        wait_for_port(http_port, server, "listserv serve (HTTP)")
        prober = subprocess.Popen([sys.executable, __file__, "--probe", str(smtp_port),
                                   str(http_port), str(probe_out)])
        await asyncio.sleep(1.0)  # the probe's connections are up
        idle_from = time.time()
        await asyncio.sleep(IDLE_SECONDS)
        busy_from = time.time()
        await send(smtp_port, selected)
        arrived = 0
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while arrived < expected and time.monotonic() < deadline:
            arrived += sum(arrival.recipients for arrival in sink.poll())
            await asyncio.sleep(0.05)
        busy_until = time.time()
    finally:
        for process in (prober, server):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        sink.stop()
    if arrived < expected:
        print(f"only {arrived} of {expected} copies arrived in {DELIVERY_TIMEOUT:.0f} s")
        return False
    lines = [line for line in probe_out.read_text().splitlines() if line.count(" ") == 2]
    idle = summary(lines, idle_from, busy_from)
    busy = summary(lines, busy_from, busy_until)
    print(f"{len(selected)} posts of about 1 MB to {members} + 3 members, {expected} copies "
          f"in {busy_until - busy_from:.1f} s")
    print(f"{'probe':9} {'phase':5} {'replies':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in PROBES:
        print(row(kind, "idle", idle[kind]))
        print(row(kind, "busy", busy[kind]))
    worst = max((max(ms) for ms in busy.values() if ms), default=float("inf"))
    print(f"longest reply while busy: {worst:.0f} ms (target < {TARGET_MS:.0f} ms)")
    return worst < TARGET_MS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help=f"comma-separated names (default: {','.join(SHAPES)})")
    parser.add_argument("--members", type=int, default=LISTS["ops@example.com"],
                        help="members of ops@example.com")
    parser.add_argument("--probe", nargs=3, metavar=("SMTP", "HTTP", "OUT"),
                        help="internal: run the probe")
    args = parser.parse_args()
    if args.probe:
        asyncio.run(probe(int(args.probe[0]), int(args.probe[1]), Path(args.probe[2])))
        return 0
    every = {shape.name: shape for shape in shapes() if not shape.not_served}
    names = args.shapes.split(",")
    unknown = set(names) - every.keys()
    if unknown:
        parser.error(f"unknown shapes {', '.join(sorted(unknown))}; known: {', '.join(every)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="listserv-stall-") as tmp:
        passed = asyncio.run(run([every[name] for name in names], Path(tmp), args.members))
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
