# SPDX-License-Identifier: Apache-2.0
"""What the benchmarks need to know about the processes they start (Linux /proc)."""

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 30.0  # seconds for a server or sink to listen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Return once something listens on the port; raise if the process dies first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what}: nothing listens on 127.0.0.1:{port} after {START_TIMEOUT} s")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far, with its children's (those it waited for
    and those still running, such as listserv's signing processes); 0 where /proc has none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    own = sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def postgres_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server on this machine so far, its ended backends included
    (0 where none runs here): every postgres process's own time, and the postmaster's
    reaped children's."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # a backend may end while we read
            text = stat.read_text()
            name, fields = text[text.find("(") + 1:text.rfind(")")], text.rpartition(")")[2].split()
            if name != "postgres":
                continue
            total += int(fields[11]) + int(fields[12])
            if Path(stat.parent, "cmdline").read_bytes().startswith(b"/"):  # the postmaster
                total += int(fields[13]) + int(fields[14])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")
