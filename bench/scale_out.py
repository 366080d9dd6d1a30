# SPDX-License-Identifier: Apache-2.0
"""Benchmark scale-out: scenario (c) through 1, 2 and 3 ``listserv serve`` processes on one
PostgreSQL database.

Scenario (c) of post_path.py: 3 posts of about 5 KB to a list of 10,000
members, into Postfix's smtp-sink (the same download as post_path.py). Each
run gets a fresh database on the local PostgreSQL (created and dropped here),
a fresh sink, and n ``listserv serve`` processes sharing that database, the
posts sent to them in turn; the runs go round 1, 2, 3 processes, ``--rounds``
times, so that the machine's load falls on all alike.

Printed per run: deliveries per second at the sink (first to last
transaction), the CPU seconds of all the listserv processes and of each
(from the first post to the last copy) per delivery, and the CPU of the
database's backends serving this database (its server processes, found by
their process titles and sampled every 0.1 s) per delivery. Checked: every
member got each post exactly once (each recipient of each transaction, from
smtp-sink's dump files), every post got 250, the servers logged nothing at
WARNING or above and exited 0 on SIGTERM.

Targets:
  the listserv CPU per delivery with 2 and with 3 processes within 20% of the
  figure with 1 process (the median over the rounds): adding processes adds
  no work per delivery;
  on a machine with at least 4 CPUs, 2 processes deliver at least 1.6 times as
  fast as 1. Each process then gets a CPU of its own and the sink and this
  database's backends the others (os.sched_setaffinity, as taskset does).
  With fewer CPUs the processes share them with the sink and the database,
  so the ratio says nothing about scale-out and is not judged.

Run from the repository root:  python bench/scale_out.py [--rounds N] [--members N]
(only the default size gets a verdict)
"""

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from post_path import (
    SCENARIOS,
    TOKEN,
    Measured,
    PostfixSink,
    Scenario,
    Verdicts,
    check,
    database_url,
    drive,
    drop_database,
    prepare,
    rate_at_sink,
    sink_process,
    smtp_sink_binary,
)
from processes import cpu_seconds

PROCESSES = (1, 2, 3)
KEYS = "lmn"  # post tokens of the runs with 1, 2 and 3 processes
ROUNDS = 3
TARGET_CPU_SPREAD = 0.20  # CPU per delivery within 20% of one process's
TARGET_SPEEDUP = 1.6  # 2 processes against 1, each on a CPU of its own
MIN_CPUS = 4  # two processes, the sink and the database each on a CPU of their own
SAMPLE_SECONDS = 0.1


@dataclass
class Run:
    """What one run measured."""

    processes: int
    deliveries: int = 0
    rate: float = 0.0
    server_cpus: list[float] = field(default_factory=list)
    database_cpu: float = 0.0

    def per_delivery(self, seconds: float) -> float:
        """Microseconds of CPU a delivery."""
        return 1e6 * seconds / self.deliveries if self.deliveries else float("inf")


class Backends(threading.Thread):
    """Samples the CPU time of the PostgreSQL backends serving one database.

    A backend's process title is "postgres: USER DATABASE HOST(PORT) STATE"; the
    database's server may serve others too, whose backends are left out.
    """

    def __init__(self, database: str, cpus: set[int] | None) -> None:
        super().__init__(daemon=True)
        self.title = f" {database} ".encode()
        self.cpus = cpus  # the CPUs to move them to, if any
        self.samples: dict[int, list[tuple[float, float]]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            for pid in self._pids():
                if pid not in self.samples and self.cpus:
                    os.sched_setaffinity(pid, self.cpus)
                self.samples.setdefault(pid, []).append((time.time(), cpu_seconds(pid)))

    def _pids(self) -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    title = Path(f"/proc/{entry}/cmdline").read_bytes()
                except OSError:
                    continue
                if title.startswith(b"postgres: ") and self.title in title:
                    found.append(int(entry))
        return found

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the backends used from start to end (to the sampling's precision)."""
        total = 0.0
        for samples in self.samples.values():
            before = [cpu for moment, cpu in samples if moment <= start]
            until = [cpu for moment, cpu in samples if moment <= end + SAMPLE_SECONDS]
            if until:
                total += until[-1] - (before[-1] if before else 0.0)
        return total


def received(sink: PostfixSink) -> Counter[tuple[str, str]]:
    """(post token, recipient) of every recipient of every transaction at the sink."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in sink.dumps.iterdir():
        data = path.read_bytes()
        match = TOKEN.search(data)
        tag = match.group(0).decode() if match else "-"
        for line in data.split(b"\n", 2000):
            if line.startswith(b"X-Rcpt-Args:"):
                counts[tag, line.split(b":", 1)[1].strip().strip(b"<>").decode()] += 1
    return counts


def run_once(processes: int, members: int, number: int, binary: Path, tmp: Path,
             pinned: bool, verdicts: Verdicts) -> Run:
    """One run: a fresh database and sink, n processes, 3 posts; checks and figures."""
    key = KEYS[PROCESSES.index(processes)]
    scenario = Scenario(key, f"3 posts to a large list, {processes} process(es)", 3, members,
                        database="postgresql", processes=processes)
    label = f"[{processes} process{'es' if processes > 1 else ''}, round {number}]"
    print(f"\n{label} 3 posts to {members:,} members on PostgreSQL", flush=True)
    work, directory = tmp / f"work-{processes}-{number}", tmp / f"sink-{processes}-{number}"
    work.mkdir()
    directory.mkdir()
    sink = PostfixSink(directory, binary)
    cores = [{n} for n in range(processes)] if pinned else []
    others = set(range(processes, os.cpu_count() or 1)) if pinned else None
    url = database_url(scenario, work)
    backends = Backends(url.rpartition("/")[2], others)
    backends.start()
    try:
        with sink_process(sink):
            if others and sink.process is not None:
                os.sched_setaffinity(sink.process.pid, others)
            env, addresses, _ = prepare(work, sink, scenario, url)
            measured = drive(scenario, sink, work, env, cores)
            counts = received(sink)
    finally:
        backends.stopping.set()
        backends.join()
        drop_database(url, work)
    return judged_run(measured, counts, addresses, backends, processes, label, verdicts)


def judged_run(measured: Measured, counts: Counter[tuple[str, str]], addresses: list[str],
               backends: Backends, processes: int, label: str, verdicts: Verdicts) -> Run:
    """Print one run's figures and checks."""
    check(measured, len(addresses), label, verdicts)
    tokens = [sent.token for sent in measured.accepted]
    expected = {(tag, address) for tag in tokens for address in addresses}
    wrong = {pair: counts[pair] for pair in expected if counts[pair] != 1}
    extra = [pair for pair in counts if pair[0] in tokens and pair not in expected]
    verdicts.check(len(tokens) == 3 and not wrong and not extra,
                   f"{label} each of the {len(addresses):,} members got each post exactly once"
                   f" (recipients at the sink, one by one)"
                   + (f"; not once: {len(wrong)}, e.g. {list(wrong.items())[:3]}" if wrong
                      else "") + (f"; not members: {extra[:3]}" if extra else ""))
    arrivals = [a for tag in tokens for a in measured.arrivals[tag]]
    run = Run(processes, server_cpus=measured.server_cpus)
    if not arrivals:
        return run
    run.deliveries, span, run.rate = rate_at_sink(arrivals)
    run.database_cpu = backends.cpu_between(measured.start, max(a.time for a in arrivals))
    shares = ", ".join(f"{run.per_delivery(cpu):.0f}" for cpu in run.server_cpus)
    print(f"  deliveries:           {run.deliveries:,} in {span:.2f} s = {run.rate:,.0f}/s")
    print(f"  listserv CPU:         {sum(run.server_cpus):.2f} s = "
          f"{run.per_delivery(sum(run.server_cpus)):.1f} µs/delivery (per process: "
          f"{shares} µs)")
    print(f"  database CPU:         {run.database_cpu:.2f} s = "
          f"{run.per_delivery(run.database_cpu):.1f} µs/delivery "
          f"({len(backends.samples)} backends)")
    return run


def summary(runs: list[Run], judge: bool, pinned: bool, verdicts: Verdicts) -> None:
    """The figures side by side per process count, and the verdicts on the targets."""
    print("\nprocesses  deliveries/s (range)   listserv µs CPU/delivery (range)   "
          "database µs/delivery")
    medians: dict[int, tuple[float, float]] = {}
    for processes in PROCESSES:
        mine = [run for run in runs if run.processes == processes and run.deliveries]
        if not mine:
            continue
        rates = [run.rate for run in mine]
        cpus = [run.per_delivery(sum(run.server_cpus)) for run in mine]
        database = [run.per_delivery(run.database_cpu) for run in mine]
        medians[processes] = statistics.median(rates), statistics.median(cpus)
        print(f"{processes:>9}  {medians[processes][0]:>8,.0f} ({min(rates):,.0f}-"
              f"{max(rates):,.0f})   {medians[processes][1]:>12.1f} ({min(cpus):.1f}-"
              f"{max(cpus):.1f}){'':13}{statistics.median(database):>8.1f}")
    if not judge:
        print("(no verdict on the targets: they are for 10,000 members)")
        return
    if 1 not in medians:
        verdicts.check(False, "no run with 1 process completed: nothing to compare with")
        return
    rate_one, cpu_one = medians[1]
    for processes in PROCESSES[1:]:
        if processes in medians:
            change = medians[processes][1] / cpu_one - 1
            verdicts.check(abs(change) <= TARGET_CPU_SPREAD,
                           f"listserv CPU per delivery with {processes} processes "
                           f"{medians[processes][1]:.1f} µs, {change:+.0%} against 1 process "
                           f"({cpu_one:.1f} µs), target within ±{TARGET_CPU_SPREAD:.0%}")
    if pinned and 2 in medians:
        ratio = medians[2][0] / rate_one
        verdicts.check(ratio >= TARGET_SPEEDUP,
                       f"2 processes deliver {ratio:.2f} times as fast as 1 "
                       f"({medians[2][0]:,.0f} against {rate_one:,.0f}/s), target >= "
                       f"{TARGET_SPEEDUP}")
    elif not pinned:
        ratio = medians[2][0] / rate_one if 2 in medians else 0.0
        print(f"  not judged: 2 processes at {ratio:.2f} times the deliveries/s of 1 (target "
              f">= {TARGET_SPEEDUP} needs each process a CPU of its own, and the sink and "
              f"the database others: at least {MIN_CPUS} CPUs; this machine has "
              f"{os.cpu_count()}, which all the processes share)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--members", type=int, default=SCENARIOS[2].members)
    args = parser.parse_args()
    if args.rounds < 1 or args.members < 1:
        parser.error("--rounds and --members must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    binary = smtp_sink_binary()
    cpus = os.cpu_count() or 1
    pinned = cpus >= MIN_CPUS and hasattr(os, "sched_setaffinity")
    print(f"scale-out: scenario (c), 3 posts to {args.members:,} members, through 1, 2 and 3 "
          f"listserv serve processes on one PostgreSQL database into smtp-sink; "
          f"{args.rounds} round(s); {cpus} CPUs, "
          + ("each process pinned to its own, the sink and the database's backends to the "
             "rest" if pinned else "not pinned (too few to give each its own)")
          + f"; load average {' '.join(f'{n:.2f}' for n in os.getloadavg())}", flush=True)
    verdicts = Verdicts()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="listserv-bench-") as tmp:
        for number in range(1, args.rounds + 1):
            for processes in PROCESSES:
                try:
                    runs.append(run_once(processes, args.members, number, binary, Path(tmp),
                                         pinned, verdicts))
                except (RuntimeError, OSError, TimeoutError) as exc:
                    verdicts.check(False, f"[{processes} processes, round {number}] did not "
                                   f"complete: {type(exc).__name__}: {exc}")
    summary(runs, args.members == SCENARIOS[2].members, pinned, verdicts)
    print(f"load average at the end: {' '.join(f'{n:.2f}' for n in os.getloadavg())}\n")
    return 0 if verdicts.passed() else 1


if __name__ == "__main__":
    sys.exit(main())
