# SPDX-License-Identifier: Apache-2.0
"""What an operator meets starting listserv serve: one line and exit 2 for what they must
fix, a warning for what they should, and logs a collector can read."""

import asyncio
import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from tests.helpers import LISTSERV, make_message, run_listserv
from tests.test_serve import serve, stop


def start_failing(env: dict[str, str], **variables: str) -> subprocess.CompletedProcess[str]:
    """listserv serve that is expected to refuse to start."""
    return subprocess.run([LISTSERV, "serve"], capture_output=True, text=True, timeout=60,
                          check=False, env={**env, "LISTSERV_SMTP_PORT": "0",
                                            "LISTSERV_HTTP_PORT": "0", **variables})


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("setting", ["LISTSERV_SMTP_PORT", "LISTSERV_HTTP_PORT"])
def test_a_port_in_use_stops_start_up_with_one_line_naming_it(
        cli_env: dict[str, str], taken_port: int, setting: str) -> None:
    result = start_failing(cli_env, LISTSERV_LISTEN_HOST="127.0.0.1",
                           LISTSERV_HTTP_HOST="127.0.0.1", **{setting: str(taken_port)})
    assert result.returncode == 2
    line = one_line(result)
    assert setting in line and f"127.0.0.1:{taken_port}" in line


async def test_a_second_serve_on_the_same_sqlite_file_refuses_to_start(
        cli_env: dict[str, str], database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("several processes may share a PostgreSQL database")
    async with serve(cli_env) as first:
        result = await asyncio.to_thread(start_failing, cli_env)
        assert result.returncode == 2
        assert "another listserv serve uses" in one_line(result)
        assert await stop(first) == 0


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot write, as a root-owned bind mount is to uid 10001
    (root writes anywhere but into an immutable directory)."""
    data = tmp_path / "data"
    data.mkdir()
    if os.getuid() == 0:
        if subprocess.run(["chattr", "+i", str(data)], capture_output=True,
                          check=False).returncode:
            pytest.skip("root, and no immutable directories on this file system")
        yield data
        subprocess.run(["chattr", "-i", str(data)], check=True)
    else:
        data.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield data
        data.chmod(stat.S_IRWXU)


def test_a_data_directory_the_process_cannot_write_stops_start_up(
        cli_env: dict[str, str], unwritable: Path) -> None:
    result = start_failing(cli_env, LISTSERV_DATABASE_URL=f"sqlite:///{unwritable}/listserv.db")
    assert result.returncode == 2
    line = one_line(result)
    assert str(unwritable) in line and f"uid {os.getuid()}" in line


def test_a_database_server_that_never_answers_stops_start_up_after_the_wait(
        cli_env: dict[str, str], taken_port: int) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nobody listens once it is closed
    result = start_failing(cli_env, LISTSERV_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/x",
                           LISTSERV_DATABASE_WAIT_SECONDS="2")
    assert result.returncode == 2
    assert "did not answer within 2 s" in one_line(result)
    assert result.stderr.count("does not answer") >= 2  # one line per try


async def test_a_host_name_without_a_dot_gets_a_warning(cli_env: dict[str, str]) -> None:
    async with serve({**cli_env, "LISTSERV_HOSTNAME": "3f2a9c1d7e11"}) as server:
        assert await stop(server) == 0
    assert any("LISTSERV_HOSTNAME is '3f2a9c1d7e11'" in line for line in server.log)


async def test_json_logs_are_one_event_per_line_with_the_list_message_and_queue_entry(
        cli_env: dict[str, str]) -> None:
    run_listserv("lists", "create", "ops@example.com", env=cli_env)
    async with serve({**cli_env, "LISTSERV_LOG_FORMAT": "json",
                      "LISTSERV_LOG_LEVEL": "INFO"}) as server:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port) as client:
            await client.sendmail("stranger@example.net", ["ops@example.com"],
                                  make_message(sender="stranger@example.net", subject="Json"))
        await asyncio.sleep(1.5)  # processed: held for the moderators
        assert await stop(server) == 0
        assert server.process.stderr is not None
        lines = server.log + (await server.process.stderr.read()).decode().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= event.keys() for event in events)
    [held] = [event for event in events if ": held" in event["message"]]
    assert held["list"] == "ops@example.com"
    assert held["queue_id"].startswith("inbound:")
    assert held["message_id"].startswith("<")
