# SPDX-License-Identifier: Apache-2.0
"""Benchmark digests: a digest of 200 posts built and sent to 10,000 digest members.

``listserv serve`` runs as a subprocess on a fresh SQLite database, its
smarthost a sink on loopback (the sinks of post_path.py). The list
ops@example.com gets alice and 10,000 others with ``listserv members
import``; the benchmark then makes the 10,000 digest members, alternately
MIME and plain (one UPDATE on the database file: ``members set`` one by one
would take longer than the rest), and sets the list's digest to size-only
with a limit it never reaches, so no digest goes out before the timed one
(and flood_max_posts=0: 200 posts in a minute are no flood here).
alice, a regular member, posts 200 messages of about 5 KB (post_path.py's)
over 4 connections; once her 200 copies are back, the timed part starts:

  ``listserv digests send ops@example.com``   builds the MIME and the plain digest
                                              and queues them, 100 recipients a job
  the running server                          delivers the 100 jobs to the sink

Figures: the size of each digest and the time the core takes to build it (in
this process, from the posts as stored); the wall time of ``digests send``
(interpreter start-up included); recipient deliveries per second and MB/s at
the sink from its first to its last digest; the time from ``digests send`` to
the last copy at the sink; the server's CPU and peak RSS. Checks: every
member gets one digest (10,000 recipients at the sink, every delivery
recorded as delivered), the server logs nothing at WARNING or above and exits
0 on SIGTERM.

Target: ``digests send`` to the last copy at the sink within 20 s.

A large issue comes first, in this process without a server: 5,000 posts of
about 5 KB (post_path.py's) built into the MIME and the plain digest; each
build timed, then built again under tracemalloc for its peak memory.
Targets: each build under 2 s, and its peak memory under 300 MB (about ten
times the posts' 28 MB: linear in the issue, not in parsed messages).

Run from the repository root:  python bench/digest.py [--sink aiosmtpd|smtp-sink|both]
                                   [--members N] [--posts N] [--large-only]
(only the default sizes get a verdict on the target)
"""

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from post_path import (
    AUTHOR,
    LIST,
    LISTSERV,
    POSTMASTER,
    STOP_TIMEOUT,
    AiosmtpdSink,
    Arrival,
    PostfixSink,
    Sink,
    Verdicts,
    collect,
    listserv,
    make_post,
    post_all,
    rate_at_sink,
    sink_process,
    smtp_sink_binary,
    token,
    write_roster,
)
from processes import cpu_seconds, free_port, peak_rss_mb, wait_for_port

from listserv.core.decoration import decorate, render
from listserv.core.digest_entries import Entry, Topic, entry_for
from listserv.core.digests import Issue, build_mime_digest, build_plain_digest
from listserv.core.footer import footer_text
from listserv.core.message import parse_post
from listserv.core.policy import ListPolicy

POSTS = 200
MEMBERS = 10_000
POST_CONNECTIONS = 4
TARGET_SECONDS = 20.0
COLLECT_TIMEOUT = 120.0  # seconds for the server to process the 200 posts
LARGE_POSTS = 5000
TARGET_LARGE_BUILD_S = 2.0
TARGET_LARGE_PEAK_MB = 300.0
FOOTER = "Leave: {unsubscribe_address}"
POLICY = ListPolicy(address=LIST, display_name="Operations Excellence",
                    list_id="ops.example.com", footer=FOOTER)
BUILDS = (("MIME", build_mime_digest), ("plain", build_plain_digest))


def prepare(work: Path, sink: Sink, members: int) -> tuple[dict[str, str], Path]:
    """A fresh database with the list and its digest members; the environment and file."""
    database = work / "listserv.db"
    env = dict(os.environ, LISTSERV_DATABASE_URL=f"sqlite:///{database}",
               LISTSERV_LISTEN_HOST="127.0.0.1", LISTSERV_SMTP_PORT=str(free_port()),
               LISTSERV_HTTP_PORT="",
               LISTSERV_SMARTHOST=f"127.0.0.1:{sink.port}", LISTSERV_DOMAINS="example.com",
               LISTSERV_HOSTNAME="lists.example.com", LISTSERV_POSTMASTER=POSTMASTER,
               LISTSERV_LOG_LEVEL="WARNING")
    env.pop("LISTSERV_CONFIG", None)
    roster = work / "members.txt"
    write_roster(roster, members + 1)
    listserv(env, "lists", "create", LIST, "--name", "Operations Excellence")
    listserv(env, "members", "import", LIST, str(roster))
    listserv(env, "lists", "set", LIST, "digest_period=never", "digest_size_kb=100000",
             "flood_max_posts=0", f"footer={FOOTER}")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE member SET delivery_mode = CASE id % 2 WHEN 0 THEN 'digest-plain' "
                   "ELSE 'digest-mime' END WHERE address != ?", (AUTHOR,))
    return env, database


def pending_posts(database: Path) -> list[Entry | bytes]:
    """The posts waiting for the digest as db.digests.pending reads them: each one's entry
    (the post itself when it has none)."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT coalesce(digest_body, raw), digest_listed, digest_text, "
                          "digest_subject, digest_author FROM digest_item "
                          "WHERE digest_issue IS NULL ORDER BY id").fetchall()
    return [body if text is None else Entry(Topic(_text(subject), _text(author)), body, listed,
                                            _text(text))
            for body, listed, text, subject, author in rows]


def _text(octets: bytes) -> str:
    return octets.decode("utf-8", "surrogatepass")


def wait_collected(database: Path, count: int) -> None:
    deadline = time.monotonic() + COLLECT_TIMEOUT
    while len(pending_posts(database)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(pending_posts(database))} of {count} posts were "
                               f"collected after {COLLECT_TIMEOUT:.0f} s")
        time.sleep(0.2)


def time_builds(posts: list[Entry | bytes]) -> None:
    """Build both digests in this process from the posts as stored; print size and time."""
    for name, build in BUILDS:
        start = time.perf_counter()
        data = build(POLICY, Issue(1, 1), posts, message_id="<bench@example.com>",
                     now=datetime.now(UTC))
        elapsed = time.perf_counter() - start
        print(f"  {'build ' + name + ':':22}{len(data):,} bytes in {elapsed * 1000:.0f} ms")


def large_issue(verdicts: Verdicts) -> None:
    """Build a digest of LARGE_POSTS posts; judge its time and peak memory."""
    rng = random.Random("large-digest")
    kept = [render(decorate(parse_post(make_post(token("d", n % 1000), LIST, rng)), POLICY,
                            message_id=f"<{n}@bench.example>", now=datetime.now(UTC)))
            for n in range(LARGE_POSTS)]
    print(f"\n[large] a digest of {LARGE_POSTS:,} posts ({sum(map(len, kept)) / 1e6:.0f} MB, "
          "decorated with the list's footer as they are kept), built in this process "
          "(a shared machine: other people's work runs meanwhile, so times are depressed)")
    start = time.process_time()
    entries = [entry_for(post, footer_text(POLICY)) for post in kept]
    reading = time.process_time() - start
    print(f"  read when kept: {reading * 1000 / LARGE_POSTS:.2f} ms CPU a post, once, "
          f"by the processing worker ({reading:.2f} s for all)")
    for name, build in BUILDS:
        elapsed, size, peak = _measured(build, entries)
        print(f"  build {name}: {size / 1e6:.1f} MB in {elapsed:.2f} s, peak {peak:.0f} MB")
        verdicts.check(elapsed < TARGET_LARGE_BUILD_S, f"[large] {name} digest of "
                       f"{LARGE_POSTS:,} posts built in {elapsed:.2f} s, target < "
                       f"{TARGET_LARGE_BUILD_S:.0f} s")
        verdicts.check(peak < TARGET_LARGE_PEAK_MB, f"[large] {name} digest's peak memory "
                       f"{peak:.0f} MB, target < {TARGET_LARGE_PEAK_MB:.0f} MB")
    for name, build in BUILDS:  # posts kept before their entries were (migration 0021)
        elapsed, size, peak = _measured(build, kept)
        print(f"  build {name} from the posts themselves (kept before 0021): "
              f"{elapsed:.2f} s, peak {peak:.0f} MB (no target)")


def _measured(build: Callable[..., bytes], posts: list[Entry] | list[bytes]
              ) -> tuple[float, int, float]:
    """Seconds (wall) and octets of one build, then the peak memory of another."""
    arguments = (POLICY, Issue(1, 1), posts)
    start = time.perf_counter()
    size = len(build(*arguments, message_id="<bench@example.com>", now=datetime.now(UTC)))
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    build(*arguments, message_id="<bench@example.com>", now=datetime.now(UTC))
    peak = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return elapsed, size, peak


def queued_octets(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT coalesce(sum(length(raw)), 0) FROM delivery_job "
                              "WHERE kind = 'digest'").fetchone()[0])


def delivery_states(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        return dict(db.execute(
            "SELECT r.state, count(*) FROM delivery_recipient r JOIN delivery_job j "
            "ON j.id = r.job_id WHERE j.kind = 'digest' GROUP BY r.state").fetchall())


def run_once(kind: str, sink: Sink, work: Path, members: int, posts: int, judge: bool,
             verdicts: Verdicts) -> None:
    """One server and sink: collect the posts, send the digest, wait for every copy."""
    label = f"[{kind}]"
    print(f"\n{label} {posts} posts, then a digest to {members:,} digest members", flush=True)
    env, database = prepare(work, sink, members)
    rng = random.Random("digest")
    messages = [(token("d", n), LIST, make_post(token("d", n), LIST, rng)) for n in range(posts)]
    port = int(env["LISTSERV_SMTP_PORT"])
    log = work / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen([str(LISTSERV), "serve"], cwd=work, env=env, stdout=output,
                                  stderr=subprocess.STDOUT)
    arrivals: dict[str, list[Arrival]] = defaultdict(list)
    rss, exit_code = 0.0, None
    try:
        wait_for_port(port, server, "listserv serve")
        start, sent = asyncio.run(post_all(port, messages, POST_CONNECTIONS))
        accepted = [s.token for s in sent if s.accepted]
        copies: dict[str, list[Arrival]] = defaultdict(list)
        if not collect(sink, dict.fromkeys(accepted, 1), copies):
            raise RuntimeError(f"alice's copies of the posts did not all arrive: "
                               f"{sum(map(len, copies.values()))} of {len(accepted)}")
        wait_collected(database, len(accepted))
        print(f"  posts collected:      {len(accepted)}/{posts} in {time.time() - start:.1f} s")
        time_builds(pending_posts(database))
        server_cpu, begin = cpu_seconds(server.pid), time.time()
        output_text = listserv(env, "digests", "send", LIST)
        queued = time.time()
        complete = collect(sink, {token("d", 0): members}, arrivals)
        server_cpu = cpu_seconds(server.pid) - server_cpu
        rss = peak_rss_mb(server.pid)
        print(f"  digests send:         {queued - begin:.2f} s ({output_text.strip()})")
        report(arrivals[token("d", 0)], begin, queued_octets(database), server_cpu, rss)
        server.send_signal(signal.SIGTERM)
        exit_code = server.wait(timeout=STOP_TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    got = sum(a.recipients for a in arrivals[token("d", 0)])
    verdicts.check(complete and got == members,
                   f"{label} {got:,} of {members:,} digest members got the digest at the sink")
    states = delivery_states(database)
    verdicts.check(states == {"delivered": members},
                   f"{label} every digest delivery recorded as delivered: {states}")
    text = log.read_text(errors="replace").strip()
    verdicts.check(not text, f"{label} listserv serve logged nothing at WARNING or above"
                   + (f"; it logged:\n{textwrap.indent(text[-3000:], '    ')}" if text else ""))
    verdicts.check(exit_code == 0, f"{label} listserv serve exited 0 on SIGTERM "
                   f"(exit status {exit_code})")
    arrived = arrivals[token("d", 0)]
    total = max(a.time for a in arrived) - begin if arrived else float("inf")
    if judge:
        verdicts.check(total <= TARGET_SECONDS, f"{label} digests send -> last copy "
                       f"{total:.2f} s, target <= {TARGET_SECONDS:.0f} s")


def report(arrived: list[Arrival], begin: float, octets: int, server_cpu: float,
           rss: float) -> None:
    if not arrived:
        print("  no digest arrived at the sink")
        return
    recipients, span, rate = rate_at_sink(arrived)
    print(f"  deliveries:           {recipients:,} recipients in {len(arrived)} transactions "
          f"({octets / 1e6:,.0f} MB), first to last {span:.2f} s = {rate:,.0f} deliveries/s, "
          f"{octets / 1e6 / span if span else 0:,.0f} MB/s")
    print(f"  send -> first copy:   {min(a.time for a in arrived) - begin:.2f} s")
    print(f"  send -> last copy:    {max(a.time for a in arrived) - begin:.2f} s")
    print(f"  server CPU:           {server_cpu:.2f} s; peak RSS {rss:.1f} MB")


def run(args: argparse.Namespace, tmp: Path) -> bool:
    kinds = ["aiosmtpd", "smtp-sink"] if args.sink == "both" else [args.sink]
    binary = smtp_sink_binary() if "smtp-sink" in kinds else None
    judge = (args.members, args.posts) == (MEMBERS, POSTS)
    print(f"digest: {args.posts} posts of about 5 KB from {AUTHOR}, {args.members:,} digest "
          f"members (half MIME, half plain); SQLite; sinks: {', '.join(kinds)}; "
          f"{os.cpu_count()} CPUs")
    verdicts = Verdicts()
    large_issue(verdicts)
    if args.large_only:
        print()
        return verdicts.passed()
    for kind in kinds:
        directory = tmp / f"sink-{kind}"
        directory.mkdir()
        work = tmp / f"work-{kind}"
        work.mkdir()
        sink: Sink = PostfixSink(directory, binary) if binary is not None \
            and kind == "smtp-sink" else AiosmtpdSink(directory)
        try:
            with sink_process(sink):
                run_once(kind, sink, work, args.members, args.posts, judge, verdicts)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, TimeoutError) as exc:
            verdicts.check(False, f"[{kind}] did not complete: {type(exc).__name__}: {exc}")
            for log in (work / "serve.log", sink.log):
                text = log.read_text(errors="replace").strip() if log.exists() else ""
                if text:
                    print(f"  --- {log.name} ---\n{textwrap.indent(text[-3000:], '    ')}")
    print()
    return verdicts.passed()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink", choices=("aiosmtpd", "smtp-sink", "both"), default="both")
    parser.add_argument("--members", type=int, default=MEMBERS)
    parser.add_argument("--posts", type=int, default=POSTS)
    parser.add_argument("--large-only", action="store_true",
                        help="only the 5,000-post build, no server")
    args = parser.parse_args()
    if args.members < 1 or args.posts < 1:
        parser.error("--members and --posts must be at least 1")
    # SIGTERM unwinds like Ctrl-C, so the server and sink are stopped and tmp removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp:
        return 0 if run(args, Path(tmp)) else 1


if __name__ == "__main__":
    sys.exit(main())
