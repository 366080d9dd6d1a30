# SPDX-License-Identifier: Apache-2.0
"""Benchmark the post path end to end: a post in over SMTP, its copies out at a sink.

``listserv serve`` runs as a subprocess on a fresh SQLite database per
scenario, with its smarthost pointed at a sink on loopback that records when
each SMTP transaction arrives (and for how many recipients). The list
ops@example.com gets N members from a generated file (``listserv lists
create`` and ``listserv members import``); alice@example.org, a member,
posts messages of about 5 KB with ``To: ops@example.com`` over 4 aiosmtplib
connections. Each post carries a unique token in its Subject, so the sink
can tell which post every transaction belongs to. Before the timed posts, one
uncounted warm-up post goes through a one-member list (warmup@example.com).

Scenarios, each with a fresh database, server and sink:

  a  a single post to 1,000 members    target: 250 -> last delivery <= 0.5 s
  b  a burst of 20 posts to 1,000      target: p50 of 250 -> last delivery <= 1.5 s
  c  3 posts to 10,000 members         target: >= 6,500 deliveries/s, and >= 70% of
                                       the ceiling: a minimal aiosmtplib client (4
                                       connections, 100 recipients a transaction)
                                       sending the same message to as many
                                       recipients through the same sink
  v  a post to 10,000 members with personalize=verp (a transaction per member)
                                       target: >= 2,000 deliveries/s
  f  a post to 1,000 members with personalize=full (a copy of its own each)
                                       with --dkim, targets: >= 2,000 signed copies/s, and
                                       >= 70% of the ceiling: a minimal client sending the
                                       same copies, made beforehand, a pipelined
                                       transaction each over 4 connections, to the same sink
  p  as c, on PostgreSQL, one listserv serve
  q  as c, on PostgreSQL, two listserv serve processes sharing the database
                                       target: q at least as fast as p
  all  the server's peak RSS (VmHWM) < 200 MB

Figures: posts accepted per second (250s), recipient deliveries per second at
the sink (first to last delivery of the run), p50/p95 from a post's 250 to its
first and last delivery, server and sink CPU, peak RSS. Checks: every post
gets 250, every member gets each post exactly once, the server logs nothing
at WARNING or above and exits 0 on SIGTERM.

Sinks (--sink, default both):
  aiosmtpd   a small recording handler in its own process (Python, like listserv)
  smtp-sink  Postfix's C test server, taken from the Debian package (downloaded once
             into ~/.cache/listserv-bench/postfix with apt-get download and unpacked with
             dpkg-deb; Postfix is never installed or started); arrival times are the
             modification times of its per-transaction dump files (-d)

Run from the repository root:  python bench/post_path.py [--sink aiosmtpd|smtp-sink|both]
                                   [--members N] [--scenarios abcvfpq] [--dkim] [--one-click]
--dkim signs every copy (a key made with listserv dkim keygen), as bench/signing.py explains.
--members N sets the list size of every scenario (the size targets then get no verdict).
--one-click gives the site a base URL (LISTSERV_BASE_URL), so that every member's copy
carries its own one-click unsubscribe link: a transaction per member, each copy signed on
its own with --dkim (the targets, set for bulk delivery, then get no verdict).
"""

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiosmtplib
from processes import cpu_seconds, free_port, peak_rss_mb, wait_for_port

LIST = "ops@example.com"
WARMUP_LIST = "warmup@example.com"
AUTHOR = "alice@example.org"
POSTMASTER = "postmaster@example.org"  # elsewhere; unset, listserv warns at start
BOUNCES = "ops-bounces@example.com"
MESSAGE_SIZE = 5 * 1024
POST_CONNECTIONS = 4
CEILING_CONNECTIONS = 4
CEILING_BATCH = 100
LISTSERV = Path(sys.executable).with_name("listserv")
TOKEN = re.compile(rb"PPB-([a-z])-(\d{3})")

TARGET_SINGLE_S = 0.5
TARGET_BURST_P50_S = 1.5
TARGET_RATE = 6500.0
TARGET_RATIO = 0.70
TARGET_VERP_RATE = 2000.0
TARGET_PERSONAL_RATE = 2000.0  # signed personal copies/s (f, with --dkim)
TARGET_TWO_PROCESSES = 1.0  # two processes at least as fast as one (q against p)
TARGET_RSS_MB = 200.0

# Every wait is bounded.
CLI_TIMEOUT = 300.0        # one listserv command (an import of a million members)
SEND_TIMEOUT = 120.0       # posting a scenario's messages, or the ceiling's transactions
STOP_TIMEOUT = 40.0        # listserv serve exiting after SIGTERM
STALL_SECONDS = 15.0       # no new delivery for this long: give up waiting
POLL_SECONDS = 0.02

ONE_CLICK_BASE_URL = "https://lists.example.com"

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") \
    / "listserv-bench" / "postfix"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    posts: int
    members: int
    settings: tuple[str, ...] = ()  # lists set ops@example.com …
    database: str = "sqlite"  # or "postgresql": a fresh database on the local server
    processes: int = 1  # listserv serve processes sharing the database
    stall_seconds: float = STALL_SECONDS  # no new delivery for this long: give up waiting


SCENARIOS = (Scenario("a", "a single post", 1, 1000),
             Scenario("b", "a burst of 20 posts", 20, 1000),
             Scenario("c", "3 posts to a large list", 3, 10_000),
             Scenario("v", "VERP: a post to a large list, a transaction per member", 1,
                      10_000, ("personalize=verp",)),
             Scenario("f", "personalised: a post to 1,000 members, a copy of its own each", 1,
                      1000, ("personalize=full",)),
             Scenario("p", "3 posts to a large list on PostgreSQL, one process", 3, 10_000,
                      database="postgresql"),
             Scenario("q", "3 posts to a large list on PostgreSQL, two processes", 3, 10_000,
                      database="postgresql", processes=2))


@dataclass(frozen=True, slots=True)
class Arrival:
    """One SMTP transaction received by the sink."""

    time: float  # seconds since the epoch (CLOCK_REALTIME, as time.time() in every process)
    token: str
    recipients: int


def token(letter: str, number: int) -> str:
    return f"PPB-{letter}-{number:03d}"


# --- messages -------------------------------------------------------------------------

WORDS = ("the valve on the north manifold was replaced during the night shift and "
         "pressure held steady at forty bar until the morning handover when the crew "
         "noticed a small drift on gauge three which we logged for inspection please "
         "check the maintenance schedule before friday because the supply boat will "
         "bring spare seals gaskets and the new flow meter that operations asked for").split()


def make_post(tag: str, to: str, rng: random.Random) -> bytes:
    """A plain-text post of about MESSAGE_SIZE bytes from alice, its token in the Subject."""
    body: list[str] = []
    size = 0
    while size < MESSAGE_SIZE:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))).capitalize()
        paragraph = textwrap.fill(text + ".", width=72).replace("\n", "\r\n")
        body += [paragraph, ""]
        size += len(paragraph) + 2
    headers = [
        f"From: Alice Example <{AUTHOR}>",
        f"To: {to}",
        f"Subject: Shift report {tag}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: <{tag}.{rng.getrandbits(64):016x}@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
    ]
    return "\r\n".join([*headers, "", *body]).encode()


def write_roster(path: Path, members: int) -> list[str]:
    """alice plus members-1 others over 20 domains; return the addresses."""
    addresses = [AUTHOR] + [f"member{n:05d}@d{n % 20:02d}.example.net"
                            for n in range(members - 1)]
    path.write_text("\n".join(addresses) + "\n", encoding="ascii")
    return addresses


# --- the aiosmtpd sink, run as a child process of the benchmark ------------------------

class RecordingHandler:
    """Record each transaction's arrival as a line 'time token recipients'.

    The first copy of every post is kept as TOKEN.eml in sample_dir, for the ceiling.
    """

    def __init__(self, record: Path, sample_dir: Path) -> None:
        self._record = record.open("a", encoding="ascii", buffering=1)
        self._sample_dir = sample_dir
        self._sampled: set[str] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrived = time.time()
        content = envelope.original_content or envelope.content or b""
        match = TOKEN.search(content)
        name = match.group(0).decode() if match else "-"
        self._record.write(f"{arrived:.6f} {name} {len(envelope.rcpt_tos)}\n")
        if match and name not in self._sampled:
            self._sampled.add(name)
            (self._sample_dir / f"{name}.eml").write_bytes(content)
        return "250 2.0.0 OK"


async def serve_aiosmtpd_sink(port: int, record: Path, sample_dir: Path) -> None:
    from aiosmtpd.smtp import SMTP  # only the sink process needs it

    handler = RecordingHandler(record, sample_dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink", ident="bench-sink", enable_SMTPUTF8=True),
        "127.0.0.1", port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


# --- sinks as seen from the benchmark ---------------------------------------------------

class Sink:
    """A sink process on 127.0.0.1:port; poll() returns the transactions arrived since."""

    name = ""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "sink.log"

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self) -> None:
        argv, env = self.command()
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(argv, env=env, stdout=output,
                                            stderr=subprocess.STDOUT, cwd=self.directory)
        wait_for_port(self.port, self.process, f"{self.name} sink")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid) if self.process else 0.0

    def poll(self) -> list[Arrival]:
        raise NotImplementedError

    def sample(self, name: str) -> bytes | None:
        raise NotImplementedError


class AiosmtpdSink(Sink):
    name = "aiosmtpd"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.record = directory / "arrivals.txt"
        self.samples = directory / "samples"
        self.samples.mkdir()
        self.record.touch()
        self._offset = 0

    def command(self) -> tuple[list[str], dict[str, str]]:
        return ([sys.executable, str(Path(__file__).resolve()), "--aiosmtpd-sink",
                 str(self.port), str(self.record), str(self.samples)], dict(os.environ))

    def poll(self) -> list[Arrival]:
        with self.record.open("rb") as file:
            file.seek(self._offset)
            data = file.read()
        complete = data[:data.rfind(b"\n") + 1]
        self._offset += len(complete)
        arrivals = []
        for line in complete.decode("ascii").splitlines():
            stamp, name, count = line.split()
            arrivals.append(Arrival(float(stamp), name, int(count)))
        return arrivals

    def sample(self, name: str) -> bytes | None:
        path = self.samples / f"{name}.eml"
        return path.read_bytes() if path.exists() else None


class PostfixSink(Sink):
    """smtp-sink -d: one dump file per transaction, closed when '.' arrives; its mtime
    is the arrival time. A file still open in the sink is a transaction in progress."""

    name = "smtp-sink"

    def __init__(self, directory: Path, binary: Path) -> None:
        super().__init__(directory)
        self.binary = binary
        self.dumps = directory / "dumps"
        self.dumps.mkdir()
        self._seen: set[str] = set()
        self._files: dict[str, Path] = {}
        self._user: list[str] = []
        if os.geteuid() == 0:  # smtp-sink refuses to run as root: drop to nobody
            import pwd

            nobody = pwd.getpwnam("nobody")
            os.chown(self.dumps, nobody.pw_uid, nobody.pw_gid)
            for parent in (directory, *directory.parents):  # let nobody reach the dump dir
                if parent == Path(tempfile.gettempdir()):
                    break
                parent.chmod(parent.stat().st_mode | 0o111)
            self._user = ["-u", "nobody"]

    def command(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ, LD_LIBRARY_PATH=str(self.binary.parents[1] / "lib" / "postfix"))
        return ([str(self.binary), *self._user, "-a", "-d", f"{self.dumps}/m.",
                 f"127.0.0.1:{self.port}", "256"], env)

    def _open_files(self) -> set[str]:
        assert self.process is not None
        names = set()
        fd_dir = Path(f"/proc/{self.process.pid}/fd")
        for fd in os.listdir(fd_dir):
            with suppress(OSError):
                names.add(os.readlink(fd_dir / fd))
        return names

    def poll(self) -> list[Arrival]:
        listed = [name for name in os.listdir(self.dumps) if name not in self._seen]
        if not listed:
            return []
        still_open = self._open_files()  # after listing: a file not open now is complete
        arrivals = []
        for name in listed:
            path = self.dumps / name
            if str(path) in still_open:
                continue
            self._seen.add(name)
            data = path.read_bytes()
            match = TOKEN.search(data)
            tag = match.group(0).decode() if match else "-"
            self._files.setdefault(tag, path)
            recipients = sum(1 for line in data.split(b"\n", 2000)
                             if line.startswith(b"X-Rcpt-Args:"))
            arrivals.append(Arrival(path.stat().st_mtime_ns / 1e9, tag, recipients))
        return arrivals

    def sample(self, name: str) -> bytes | None:
        path = self._files.get(name)
        if path is None:
            return None
        lines = path.read_bytes().split(b"\n")
        # Skip smtp-sink's own X-* lines and its three-line Received header.
        start = next(i for i, line in enumerate(lines) if line.startswith(b"Received:")) + 1
        while start < len(lines) and lines[start][:1] in (b"\t", b" "):
            start += 1
        message = lines[start:]
        if message and message[-1] == b"":
            message = message[:-1]  # the newline of the last line
        if message and message[-1] == b"":
            message = message[:-1]  # the empty line smtp-sink appends to each dump
        return b"\r\n".join(message) + b"\r\n"


# --- getting smtp-sink out of the Debian package ----------------------------------------

def smtp_sink_binary() -> Path:
    """The cached smtp-sink, downloaded and unpacked on first use; exit with a reason if not."""
    root = CACHE / "root"
    binary = root / "usr" / "sbin" / "smtp-sink"
    if not binary.exists():
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                sys.exit(f"smtp-sink: {tool} not found; this setup needs Debian or Ubuntu "
                         "(or run with --sink aiosmtpd)")
        CACHE.mkdir(parents=True, exist_ok=True)
        debs = sorted(CACHE.glob("postfix_*.deb"))
        if not debs:
            print(f"smtp-sink: downloading the postfix package into {CACHE} "
                  "(not installed)", flush=True)
            result = run_tool(["apt-get", "download", "postfix"], CACHE)
            if result.returncode != 0:
                update = run_tool(["apt-get", "update"], CACHE)
                result = run_tool(["apt-get", "download", "postfix"], CACHE)
                if result.returncode != 0:
                    sys.exit("smtp-sink: apt-get download postfix failed:\n"
                             f"{update.stderr.strip()}\n{result.stderr.strip()}\n"
                             "(run with --sink aiosmtpd to skip smtp-sink)")
            debs = sorted(CACHE.glob("postfix_*.deb"))
        unpacking = CACHE / "root.partial"
        shutil.rmtree(unpacking, ignore_errors=True)
        result = run_tool(["dpkg-deb", "-x", str(debs[-1]), str(unpacking)], CACHE)
        if result.returncode != 0 or not (unpacking / "usr" / "sbin" / "smtp-sink").exists():
            sys.exit(f"smtp-sink: dpkg-deb -x {debs[-1]} failed: {result.stderr.strip()}")
        shutil.rmtree(root, ignore_errors=True)
        unpacking.rename(root)
    # Without arguments it prints its usage; a missing shared library shows up here too.
    check = subprocess.run([str(binary)], env=dict(
        os.environ, LD_LIBRARY_PATH=str(root / "usr" / "lib" / "postfix")),
        capture_output=True, text=True, timeout=30, check=False)
    if "usage" not in check.stderr:
        sys.exit(f"smtp-sink: {binary} does not run: {check.stderr.strip()}\n"
                 f"(delete {CACHE} to download it again, or run with --sink aiosmtpd)")
    return binary


def run_tool(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300,
                              check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 1, "", f"{argv[0]} timed out after 300 s")


# --- processes ------------------------------------------------------------------------

def listserv(env: dict[str, str], *args: str) -> str:
    """Run one listserv command; return its output, or raise with its error."""
    result = subprocess.run([str(LISTSERV), *args], env=env, capture_output=True, text=True,
                            timeout=CLI_TIMEOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"listserv {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stderr.strip()}")
    return result.stdout


@contextmanager
def sink_process(sink: Sink) -> Iterator[Sink]:
    try:
        sink.start()
        yield sink
    finally:
        sink.stop()


# --- sending --------------------------------------------------------------------------

@dataclass
class Sent:
    token: str
    accepted_at: float = 0.0  # time.time() when the 250 came
    reply: str = ""

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("250")


async def post_all(port: int, posts: Sequence[tuple[str, str, bytes]],
                   connections: int) -> tuple[float, list[Sent]]:
    """Send (token, recipient, message) posts over the connections; return the start time."""
    connections = max(1, min(connections, len(posts)))
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
               for _ in range(connections)]
    await asyncio.gather(*(client.connect() for client in clients))
    sent = [Sent(tag) for tag, _, _ in posts]

    async def send(client: aiosmtplib.SMTP, indexes: range) -> None:
        for index in indexes:
            _, recipient, message = posts[index]
            try:
                _, reply = await client.sendmail(AUTHOR, [recipient], message)
                sent[index].reply = f"250 {reply}"
            except aiosmtplib.SMTPException as exc:
                sent[index].reply = f"{getattr(exc, 'code', '?')} {exc}"
            sent[index].accepted_at = time.time()

    try:
        start = time.time()
        await asyncio.gather(*(send(client, range(i, len(posts), connections))
                               for i, client in enumerate(clients)))
        return start, sent
    finally:
        await asyncio.gather(*(client.quit() for client in clients), return_exceptions=True)


async def direct_send(port: int, message: bytes, recipients: Sequence[str]) -> float:
    """The ceiling: CEILING_BATCH recipients a transaction over CEILING_CONNECTIONS
    connections, straight to the sink; return the client's wall time."""
    batches = [recipients[i:i + CEILING_BATCH] for i in range(0, len(recipients), CEILING_BATCH)]
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
               for _ in range(CEILING_CONNECTIONS)]
    await asyncio.gather(*(client.connect() for client in clients))

    async def send(client: aiosmtplib.SMTP, mine: Sequence[Sequence[str]]) -> None:
        for batch in mine:
            await client.sendmail(BOUNCES, list(batch), message)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(send(client, batches[i::CEILING_CONNECTIONS])
                               for i, client in enumerate(clients)))
        return time.perf_counter() - start
    finally:
        await asyncio.gather(*(client.quit() for client in clients), return_exceptions=True)


async def pipelined_send(port: int, copies: Sequence[tuple[str, bytes]]) -> float:
    """The ceiling of personal copies: a transaction per copy (recipient, DATA as sent,
    dot-stuffed and ended), MAIL, RCPT and DATA in one write (RFC 2920), over
    CEILING_CONNECTIONS connections, straight to the sink; return the client's wall time."""
    async def reply(reader: asyncio.StreamReader) -> None:
        while (line := await reader.readline())[3:4] == b"-":
            pass
        if line[:1] not in (b"2", b"3"):
            raise RuntimeError(f"the sink answered {line!r}")

    async def session(mine: Sequence[tuple[str, bytes]]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reply(reader)
        writer.write(b"EHLO ceiling.example.com\r\n")
        await reply(reader)
        for recipient, data in mine:
            writer.write(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                         % (BOUNCES.encode(), recipient.encode()))
            for _ in range(3):
                await reply(reader)
            writer.write(data)
            await reply(reader)
        writer.write(b"QUIT\r\n")
        await reply(reader)
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(session(copies[i::CEILING_CONNECTIONS])
                           for i in range(CEILING_CONNECTIONS)))
    return time.perf_counter() - start


def collect(sink: Sink, expected: dict[str, int], into: dict[str, list[Arrival]],
            stall: float = STALL_SECONDS) -> bool:
    """Gather arrivals until every token has its expected recipients; False on a stall."""
    total = sum(expected.values())
    # Copies signed one by one (personalize=full, --one-click with --dkim) may come at only
    # a hundred a second on a busy machine; a stall ends the wait sooner.
    deadline = time.monotonic() + 60 + total / 100
    last_progress = time.monotonic()
    while True:
        new = sink.poll()
        for arrival in new:
            into[arrival.token].append(arrival)
        if new:
            last_progress = time.monotonic()
        if all(sum(a.recipients for a in into[tag]) >= count for tag, count in expected.items()):
            return True
        now = time.monotonic()
        if now - last_progress > stall or now > deadline:
            return False
        time.sleep(POLL_SECONDS)


# --- figures --------------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate_at_sink(arrivals: Sequence[Arrival]) -> tuple[int, float, float]:
    """Recipients, first-to-last span and recipients per second over that span."""
    recipients = sum(a.recipients for a in arrivals)
    span = max(a.time for a in arrivals) - min(a.time for a in arrivals)
    return recipients, span, recipients / span if span > 0 else float("inf")


@dataclass
class Verdicts:
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def check(self, ok: bool, text: str) -> None:
        self.lines.append((ok, text))
        print(f"  {'PASS' if ok else 'FAIL'}: {text}", flush=True)

    def passed(self) -> bool:
        """Print the summary line(s); whether every check passed."""
        failed = [text.splitlines()[0] for ok, text in self.lines if not ok]
        if failed:
            print(f"FAIL: {len(failed)} of {len(self.lines)} checks failed:")
            for text in failed:
                print(f"  {text}")
            return False
        print(f"PASS: all {len(self.lines)} checks and targets met")
        return True


@dataclass
class Outcome:
    """What run_ceiling and the RSS check need from a scenario."""

    rate: float = 0.0
    rss_mb: float = 0.0
    sample: bytes | None = None
    recipients: list[str] = field(default_factory=list)


@dataclass
class Measured:
    """The raw results of one scenario's server run."""

    start: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    arrivals: dict[str, list[Arrival]] = field(default_factory=lambda: defaultdict(list))
    server_cpu: float = 0.0
    server_cpus: list[float] = field(default_factory=list)  # each process's share
    sink_cpu: float = 0.0
    rss_mb: float = 0.0
    exit_code: int | None = None
    server_log: str = ""
    queue: str = ""  # ``listserv queue`` when deliveries stalled

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.accepted]


# --- one scenario ---------------------------------------------------------------------

def database_url(scenario: Scenario, work: Path) -> str:
    """A fresh database for the scenario (on PostgreSQL: created here, dropped by drop_database)."""
    if scenario.database == "sqlite":
        return f"sqlite:///{work}/listserv.db"
    name = f"listserv_bench_{os.getpid()}_{scenario.key}"
    run_tool(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c",
              f"CREATE DATABASE {name}", "postgres"], work)
    return f"postgresql://postgres@127.0.0.1/{name}"


def drop_database(url: str, work: Path) -> None:
    if url.startswith("postgresql"):
        name = url.rpartition("/")[2]
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c",
                        f"DROP DATABASE IF EXISTS {name}", "postgres"], cwd=work,
                       capture_output=True, timeout=CLI_TIMEOUT, check=False)


def prepare(work: Path, sink: Sink, scenario: Scenario,
            url: str) -> tuple[dict[str, str], list[str], float]:
    """Settings for a fresh database, the lists in it; return the environment, the roster
    and the wall time of ``listserv members import``."""
    env = dict(os.environ, LISTSERV_DATABASE_URL=url,
               LISTSERV_LISTEN_HOST="127.0.0.1", LISTSERV_SMTP_PORT=str(free_port()),
               LISTSERV_HTTP_PORT="",
               LISTSERV_SMARTHOST=f"127.0.0.1:{sink.port}", LISTSERV_DOMAINS="example.com",
               LISTSERV_HOSTNAME="lists.example.com", LISTSERV_POSTMASTER=POSTMASTER,
               LISTSERV_LOG_LEVEL="WARNING")
    env.pop("LISTSERV_CONFIG", None)
    roster = work / "members.txt"
    addresses = write_roster(roster, scenario.members)
    listserv(env, "lists", "create", LIST)
    started = time.perf_counter()
    listserv(env, "members", "import", LIST, str(roster))
    imported = time.perf_counter() - started
    if scenario.settings:
        listserv(env, "lists", "set", LIST, *scenario.settings)
    listserv(env, "lists", "create", WARMUP_LIST, "--owner", AUTHOR)
    return env, addresses, imported


def drive(scenario: Scenario, sink: Sink, work: Path, env: dict[str, str],
          cores: Sequence[set[int]] = ()) -> Measured:
    """Start listserv serve (once per process), warm it up, post, wait for every copy, stop.

    cores: the CPUs each process may run on, in order (os.sched_setaffinity); any if none.
    """
    rng = random.Random(f"post-path-{scenario.key}")
    posts = [(token(scenario.key, n), LIST, make_post(token(scenario.key, n), LIST, rng))
             for n in range(scenario.posts)]
    measured = Measured()
    servers: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for number in range(scenario.processes):
            port = free_port() if number else int(env["LISTSERV_SMTP_PORT"])
            with (work / f"serve-{number}.log").open("wb") as output:
                server = subprocess.Popen([str(LISTSERV), "serve"], cwd=work, stdout=output,
                                          env={**env, "LISTSERV_SMTP_PORT": str(port)},
                                          stderr=subprocess.STDOUT)
            servers.append((server, port))
            if number < len(cores):
                os.sched_setaffinity(server.pid, cores[number])
            wait_for_port(port, server, "listserv serve")
            warm_up(port, env, rng, number, sink, measured)
        pids = [server.pid for server, _ in servers]
        server_cpus, sink_cpu = list(map(cpu_seconds, pids)), sink.cpu()
        measured.start, measured.sent = asyncio.run(asyncio.wait_for(
            post_spread([port for _, port in servers], posts), SEND_TIMEOUT))
        expected = {s.token: scenario.members for s in measured.accepted}
        complete = collect(sink, expected, measured.arrivals, scenario.stall_seconds)
        measured.server_cpus = [cpu_seconds(pid) - before
                                for pid, before in zip(pids, server_cpus, strict=True)]
        measured.server_cpu = sum(measured.server_cpus)
        measured.sink_cpu = sink.cpu() - sink_cpu
        measured.rss_mb = max(map(peak_rss_mb, pids))
        if not complete:
            measured.queue = listserv(env, "queue")
        for server, _ in servers:
            server.send_signal(signal.SIGTERM)
        measured.exit_code = max(server.wait(timeout=STOP_TIMEOUT) for server, _ in servers)
    finally:
        for server, _ in servers:
            if server.poll() is None:
                server.kill()
                server.wait()
        measured.server_log = "\n".join(log.read_text(errors="replace").strip()
                                        for log in sorted(work.glob("serve-*.log"))).strip()
    return measured


def warm_up(port: int, env: dict[str, str], rng: random.Random, number: int, sink: Sink,
            measured: Measured) -> None:
    """One uncounted post through a one-member list, so imports and caches are warm."""
    warmup = token("w", number)
    _, [sent] = asyncio.run(asyncio.wait_for(
        post_all(port, [(warmup, WARMUP_LIST, make_post(warmup, WARMUP_LIST, rng))], 1),
        SEND_TIMEOUT))
    if not sent.accepted or not collect(sink, {warmup: 1}, measured.arrivals):
        raise RuntimeError(f"the warm-up post was not delivered (reply {sent.reply!r}); "
                           f"listserv queue:\n{listserv(env, 'queue')}")


async def post_spread(ports: Sequence[int], posts: Sequence[tuple[str, str, bytes]]
                      ) -> tuple[float, list[Sent]]:
    """Post round-robin to the servers, POST_CONNECTIONS connections in all."""
    shares = [list(posts[i::len(ports)]) for i in range(len(ports))]
    results = await asyncio.gather(*(post_all(port, share, POST_CONNECTIONS // len(ports))
                                     for port, share in zip(ports, shares, strict=True)
                                     if share))
    return min(start for start, _ in results), [s for _, sent in results for s in sent]


def report(measured: Measured, outcome: Outcome) -> list[float]:
    """Print the figures; return each post's time from 250 to its last copy."""
    accepted, arrivals, start = measured.accepted, measured.arrivals, measured.start
    if len(accepted) > 1:
        last = max(s.accepted_at for s in accepted)
        print(f"  accepted:             {len(accepted)}/{len(measured.sent)} posts in "
              f"{last - start:.3f} s = {len(accepted) / (last - start):,.1f} posts/s")
    elif accepted:
        print(f"  accepted:             1 post, 250 after {accepted[0].accepted_at - start:.3f} s")
    arrived = [s for s in accepted if arrivals[s.token]]
    to_first = [min(a.time for a in arrivals[s.token]) - s.accepted_at for s in arrived]
    to_last = [max(a.time for a in arrivals[s.token]) - s.accepted_at for s in arrived]
    mine = [a for s in arrived for a in arrivals[s.token]]
    if mine:
        recipients, span, outcome.rate = rate_at_sink(mine)
        active = max(a.time for a in mine) - start
        print(f"  deliveries:           {recipients:,} recipients in {len(mine)} transactions, "
              f"first to last {span:.3f} s = {outcome.rate:,.0f} deliveries/s")
        print(f"  250 -> first copy:    p50 {percentile(to_first, 0.5):.3f} s   "
              f"p95 {percentile(to_first, 0.95):.3f} s")
        print(f"  250 -> last copy:     p50 {percentile(to_last, 0.5):.3f} s   "
              f"p95 {percentile(to_last, 0.95):.3f} s   max {max(to_last):.3f} s")
        print(f"  server CPU:           {measured.server_cpu:.2f} s in the {active:.2f} s from "
              f"the first post to the last copy ({measured.server_cpu / active:.0%} of one "
              f"core; {1e6 * measured.server_cpu / recipients:.0f} µs/delivery), "
              f"sink CPU {measured.sink_cpu:.2f} s")
    print(f"  server peak RSS:      {measured.rss_mb:.1f} MB")
    return to_last


def check(measured: Measured, members: int, label: str, verdicts: Verdicts) -> None:
    """The checks that hold at any size: 250s, every copy once, a quiet log, a clean exit."""
    refused = [f"{s.token}: {s.reply}" for s in measured.sent if not s.accepted]
    verdicts.check(not refused, f"{label} every post got 250"
                   + (f"; refused: {refused}" if refused else ""))
    counts = {s.token: sum(a.recipients for a in measured.arrivals[s.token])
              for s in measured.accepted}
    wrong = {tag: count for tag, count in counts.items() if count != members}
    verdicts.check(not wrong, f"{label} every post reached all {members:,} members "
                   "exactly once" + (f"; recipients at the sink: {wrong}" if wrong else ""))
    if measured.queue:
        print(f"  listserv queue after {STALL_SECONDS:.0f} s without progress:\n"
              + textwrap.indent(measured.queue.strip(), "    "))
    log = measured.server_log
    verdicts.check(not log, f"{label} listserv serve logged nothing at WARNING or above"
                   + (f"; it logged:\n{textwrap.indent(log[-3000:], '    ')}" if log else ""))
    verdicts.check(measured.exit_code == 0, f"{label} listserv serve exited 0 on SIGTERM "
                   f"(exit status {measured.exit_code})")


def judge_targets(scenario: Scenario, to_last: list[float], rate: float, label: str,
                  verdicts: Verdicts) -> None:
    if scenario.key == "a":
        verdicts.check(max(to_last) <= TARGET_SINGLE_S,
                       f"{label} 250 -> full delivery {max(to_last):.3f} s, "
                       f"target <= {TARGET_SINGLE_S} s")
    elif scenario.key == "b":
        p50 = percentile(to_last, 0.5)
        verdicts.check(p50 <= TARGET_BURST_P50_S,
                       f"{label} p50 250 -> last delivery {p50:.3f} s, "
                       f"target <= {TARGET_BURST_P50_S} s")
    elif scenario.key == "c":
        verdicts.check(rate >= TARGET_RATE,
                       f"{label} {rate:,.0f} deliveries/s, target >= {TARGET_RATE:,.0f}")
    elif scenario.key == "v":
        verdicts.check(rate >= TARGET_VERP_RATE, f"{label} {rate:,.0f} deliveries/s with a "
                       f"transaction per member, target >= {TARGET_VERP_RATE:,.0f}")


def run_scenario(scenario: Scenario, sink: Sink, tmp: Path, judge: bool,
                 verdicts: Verdicts) -> Outcome:
    """Post the scenario's messages through a fresh listserv; print figures and checks."""
    label = f"[{sink.name}] ({scenario.key})"
    print(f"\n{label} {scenario.title}: {scenario.posts} post(s) to {scenario.members:,} "
          f"members ({scenario.database}, {scenario.processes} process(es))", flush=True)
    work = tmp / f"{sink.name}-{scenario.key}"
    work.mkdir()
    url = database_url(scenario, work)
    try:
        env, addresses, _ = prepare(work, sink, scenario, url)
        measured = drive(scenario, sink, work, env)
    finally:
        drop_database(url, work)
    outcome = Outcome(rss_mb=measured.rss_mb, recipients=addresses)
    to_last = report(measured, outcome)
    if measured.arrivals[token(scenario.key, 0)]:
        outcome.sample = sink.sample(token(scenario.key, 0))
    check(measured, scenario.members, label, verdicts)
    if to_last and judge:
        judge_targets(scenario, to_last, outcome.rate, label, verdicts)
    elif to_last:
        print("  (no verdict on the targets: they are for the default sizes)")
    return outcome


def measure_ceiling(sink: Sink, tag: str, expected: int,
                    sending: Coroutine[Any, Any, float], label: str,
                    verdicts: Verdicts) -> tuple[int, float, float, float, float, float] | None:
    """Run a ceiling client's sending (it returns its wall time) until the sink has expected
    deliveries tagged tag: (count, first to last, rate at the sink, client wall, client CPU,
    sink CPU), or None, a failed verdict, when some never arrive."""
    arrivals: dict[str, list[Arrival]] = defaultdict(list)
    sink_cpu, client_cpu = sink.cpu(), time.process_time()
    wall = asyncio.run(asyncio.wait_for(sending, SEND_TIMEOUT))
    client_cpu = time.process_time() - client_cpu
    complete = collect(sink, {tag: expected}, arrivals)
    sink_cpu = sink.cpu() - sink_cpu
    if not complete:
        verdicts.check(False, f"{label} ceiling: the sink got "
                       f"{sum(a.recipients for a in arrivals[tag])} of {expected}")
        return None
    return (*rate_at_sink(arrivals[tag]), wall, client_cpu, sink_cpu)


def run_ceiling(scenario: Scenario, sink: Sink, outcome: Outcome, judge: bool,
                verdicts: Verdicts) -> None:
    """Send the same message to as many recipients straight to the same sink."""
    label = f"[{sink.name}] ({scenario.key})"
    if outcome.sample is None:
        verdicts.check(False, f"{label} ceiling not measured: no post arrived at the sink")
        return
    tag = token("x", 0)
    message = outcome.sample.replace(token(scenario.key, 0).encode(), tag.encode())
    recipients = outcome.recipients * scenario.posts
    measured = measure_ceiling(sink, tag, len(recipients),
                               direct_send(sink.port, message, recipients), label, verdicts)
    if measured is None:
        return
    count, span, rate, wall, client_cpu, sink_cpu = measured
    print(f"  ceiling:              {count:,} recipients of the same {len(message):,}-byte "
          f"message, {CEILING_CONNECTIONS} connections x {CEILING_BATCH} recipients: first "
          f"to last {span:.3f} s = {rate:,.0f} deliveries/s (client wall "
          f"{len(recipients) / wall:,.0f}/s)")
    print(f"  ceiling CPU:          client {client_cpu:.2f} s "
          f"({1e6 * client_cpu / count:.0f} µs/delivery), sink {sink_cpu:.2f} s")
    ratio = outcome.rate / rate
    print(f"  listserv/ceiling:     {ratio:.1%}")
    if judge:
        verdicts.check(ratio >= TARGET_RATIO,
                       f"{label} listserv at {ratio:.1%} of the ceiling, "
                       f"target >= {TARGET_RATIO:.0%}")


def run_personal_ceiling(scenario: Scenario, sink: Sink, outcome: Outcome, judge: bool,
                         verdicts: Verdicts) -> None:
    """Send the same personal copies, made beforehand from the one the sink got, a
    transaction each, straight to the same sink; compare (scenario f)."""
    label = f"[{sink.name}] ({scenario.key})"
    if outcome.sample is None:
        verdicts.check(False, f"{label} ceiling not measured: no copy arrived at the sink")
        return
    tag = token("x", 0)
    sample = outcome.sample.replace(token(scenario.key, 0).encode(), tag.encode())
    named = next((address for address in outcome.recipients if address.encode() in sample), "")
    copies = [(address, data_form(sample.replace(named.encode(), address.encode())
                                  if named else sample))
              for address in outcome.recipients * scenario.posts]
    measured = measure_ceiling(sink, tag, len(copies), pipelined_send(sink.port, copies),
                               label, verdicts)
    if measured is None:
        return
    count, span, rate, wall, client_cpu, sink_cpu = measured
    print(f"  ceiling:              {count:,} personal copies of about {len(sample):,} bytes "
          f"made beforehand, a pipelined transaction each over {CEILING_CONNECTIONS} "
          f"connections: first to last {span:.3f} s = {rate:,.0f} copies/s (client wall "
          f"{count / wall:,.0f}/s)")
    print(f"  ceiling CPU:          client {client_cpu:.2f} s "
          f"({1e6 * client_cpu / count:.0f} µs/copy), sink {sink_cpu:.2f} s")
    ratio = outcome.rate / rate
    print(f"  listserv/ceiling:     {ratio:.1%} ({outcome.rate:,.0f} against {rate:,.0f} "
          "copies/s)")
    if judge:
        verdicts.check(outcome.rate >= TARGET_PERSONAL_RATE,
                       f"{label} {outcome.rate:,.0f} signed personal copies/s, "
                       f"target >= {TARGET_PERSONAL_RATE:,.0f}")
        verdicts.check(ratio >= TARGET_RATIO,
                       f"{label} listserv at {ratio:.1%} of the ceiling, "
                       f"target >= {TARGET_RATIO:.0%}")


def data_form(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF lines, dot-stuffed, ended by a lone dot."""
    data = re.sub(rb"\r?\n", b"\r\n", message)
    return re.sub(rb"(?m)^\.", b"..", data if data.endswith(b"\r\n") else data + b"\r\n") \
        + b".\r\n"


# --- the benchmark --------------------------------------------------------------------

def run_sink(kind: str, binary: Path | None, scenarios: Sequence[Scenario], tmp: Path,
             judge: bool, judge_personal: bool, verdicts: Verdicts) -> float:
    """Every scenario against one kind of sink; return the server's peak RSS."""
    peak = 0.0
    rates: dict[str, float] = {}
    for scenario in scenarios:
        directory = tmp / f"sink-{kind}-{scenario.key}"
        directory.mkdir()
        sink: Sink = AiosmtpdSink(directory) if binary is None or kind == "aiosmtpd" \
            else PostfixSink(directory, binary)
        try:
            with sink_process(sink):
                outcome = run_scenario(scenario, sink, tmp, judge, verdicts)
                peak = max(peak, outcome.rss_mb)
                rates[scenario.key] = outcome.rate
                if scenario.key == "c":
                    run_ceiling(scenario, sink, outcome, judge, verdicts)
                elif scenario.key == "f":
                    run_personal_ceiling(scenario, sink, outcome, judge_personal, verdicts)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, TimeoutError,
                aiosmtplib.SMTPException) as exc:
            verdicts.check(False, f"[{kind}] ({scenario.key}) did not complete: "
                           f"{type(exc).__name__}: {exc}")
            for log in [*sorted(tmp.glob(f"{kind}-{scenario.key}/serve-*.log")), sink.log]:
                text = log.read_text(errors="replace").strip() if log.exists() else ""
                if text:
                    print(f"  --- {log.name} ---\n{textwrap.indent(text[-3000:], '    ')}")
    if judge and rates.get("p") and rates.get("q"):
        ratio = rates["q"] / rates["p"]
        verdicts.check(ratio >= TARGET_TWO_PROCESSES,
                       f"[{kind}] two processes on PostgreSQL at {ratio:.0%} of one "
                       f"({rates['q']:,.0f} against {rates['p']:,.0f} deliveries/s), "
                       f"target >= {TARGET_TWO_PROCESSES:.0%}")
    return peak


def run(args: argparse.Namespace, tmp: Path) -> bool:
    kinds = ["aiosmtpd", "smtp-sink"] if args.sink == "both" else [args.sink]
    binary = smtp_sink_binary() if "smtp-sink" in kinds else None
    scenarios = [s for s in SCENARIOS if s.key in args.scenarios]
    if args.members:
        scenarios = [replace(s, members=args.members) for s in scenarios]
    judge = not args.members and not args.one_click
    print(f"post path: messages of about {MESSAGE_SIZE // 1024} KB from {AUTHOR} over "
          f"{POST_CONNECTIONS} connections; sinks: {', '.join(kinds)}; "
          f"{os.cpu_count()} CPUs")
    verdicts = Verdicts()
    if args.dkim:  # prepare() passes the environment on to every listserv it runs
        os.environ["LISTSERV_DKIM_PRIVATE_KEY"] = dkim_key(tmp)
    os.environ.pop("LISTSERV_BASE_URL", None)  # one-click links only when asked for
    if args.one_click:
        os.environ["LISTSERV_BASE_URL"] = ONE_CLICK_BASE_URL
        print(f"one-click on: every copy carries its member's link under {ONE_CLICK_BASE_URL}",
              flush=True)
    # f's targets are for signed copies, whether or not they carry one-click links.
    judge_personal = args.dkim and not args.members
    peak = max(run_sink(kind, binary, scenarios, tmp, judge, judge_personal, verdicts)
               for kind in kinds)
    print()
    verdicts.check(0 < peak < TARGET_RSS_MB,
                   f"server peak RSS {peak:.1f} MB over all runs, target < {TARGET_RSS_MB:.0f} MB"
                   if peak else "server peak RSS not measured: no run completed")
    return verdicts.passed()


def dkim_key(tmp: Path) -> str:
    """A signing key for example.com, made as an operator would (listserv dkim keygen)."""
    subprocess.run([str(LISTSERV), "dkim", "keygen", "example.com", "--dir", str(tmp)],
                   capture_output=True, check=True, timeout=CLI_TIMEOUT)
    print("DKIM signing on: every copy is signed for example.com", flush=True)
    return str(tmp / "example.com.listserv.pem")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink", choices=("aiosmtpd", "smtp-sink", "both"), default="both")
    parser.add_argument("--members", type=int,
                        help="list size for every scenario (no verdict on the targets)")
    parser.add_argument("--scenarios", default="abcvfpq",
                        help="which of a, b, c, v, p, q to run (see above)")
    parser.add_argument("--dkim", action="store_true",
                        help="sign outgoing mail with a fresh DKIM key (LISTSERV_DKIM_*)")
    parser.add_argument("--one-click", action="store_true",
                        help="a base URL for the site: a one-click link in every member's copy")
    parser.add_argument("--aiosmtpd-sink", nargs=3, metavar=("PORT", "RECORD", "SAMPLES"),
                        help="internal: run the aiosmtpd sink")
    args = parser.parse_args()
    if args.members is not None and args.members < 1:
        parser.error("--members must be at least 1")
    if not set(args.scenarios) <= {s.key for s in SCENARIOS} or not args.scenarios:
        parser.error("--scenarios: letters from " + ", ".join(s.key for s in SCENARIOS))
    return args


def main() -> int:
    args = parse_args()
    if args.aiosmtpd_sink:
        port, record, samples = args.aiosmtpd_sink
        asyncio.run(serve_aiosmtpd_sink(int(port), Path(record), Path(samples)))
        return 0
    # SIGTERM unwinds like Ctrl-C, so the servers and sinks are stopped and tmp removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp:
        return 0 if run(args, Path(tmp)) else 1


if __name__ == "__main__":
    sys.exit(main())
