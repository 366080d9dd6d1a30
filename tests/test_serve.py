# SPDX-License-Identifier: Apache-2.0
"""``listserv serve`` as the operator runs it: a process, its signals, its exit code."""

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiosmtplib
import httpx
import pytest
from sqlalchemy import text

from listserv.db.engine import create_engine
from tests.conftest import async_url
from tests.helpers import LISTSERV, make_message, run_listserv


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    log: list[str]
    http_port: int


@asynccontextmanager
async def serve(env: dict[str, str]) -> AsyncIterator[Server]:
    env = {**env, "LISTSERV_SMTP_PORT": "0", "LISTSERV_LISTEN_HOST": "127.0.0.1",
           "LISTSERV_HTTP_PORT": "0"}
    process = await asyncio.create_subprocess_exec(LISTSERV, "serve", env=env,
                                                   stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    log: list[str] = []
    try:
        async with asyncio.timeout(30):
            while "listserv is ready" not in "".join(log[-1:]):
                log.append((await process.stderr.readline()).decode())
                assert log[-1], "".join(log)
        text = "".join(log)
        port = int(re.search(r"listening for SMTP on 127.0.0.1:(\d+)", text)[1])  # type: ignore[index]
        http_port = int(re.search(r"listening for HTTP on 127.0.0.1:(\d+)", text)[1])  # type: ignore[index]
        yield Server(process, port, log, http_port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(server: Server) -> int:
    server.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        return await server.process.wait()


async def count_inbound(database_url: str) -> int:
    engine, _ = create_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text("SELECT count(*) FROM inbound")) or 0)
    finally:
        await engine.dispose()


async def test_serve_migrates_accepts_mail_and_exits_0_on_sigterm(
        cli_env: dict[str, str], database_url: str) -> None:
    assert run_listserv("lists", "create", "ops@example.com", env=cli_env).returncode == 0
    async with serve(cli_env) as server:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port) as client:
            await client.sendmail("alice@example.org", ["ops@example.com"], make_message())
        assert await stop(server) == 0
    assert await count_inbound(database_url) == 1


async def test_at_info_a_stored_message_is_one_log_line_not_the_smtp_dialogue(
        cli_env: dict[str, str]) -> None:
    run_listserv("lists", "create", "ops@example.com", env=cli_env)
    async with serve({**cli_env, "LISTSERV_LOG_LEVEL": "INFO"}) as server:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port) as client:
            await client.sendmail("alice@example.org", ["ops@example.com"],
                                  make_message(subject="Logged"))
        assert await stop(server) == 0
        assert server.process.stderr is not None
        log = server.log + (await server.process.stderr.read()).decode().splitlines()
    assert sum(" stored: from <alice@example.org>" in line for line in log) == 1
    assert [line for line in log if "mail.log" in line] == []  # aiosmtpd's trace


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_transaction_in_progress_is_finished_before_exit(
        cli_env: dict[str, str], database_url: str, signum: int) -> None:
    run_listserv("lists", "create", "ops@example.com", env=cli_env)
    async with serve(cli_env) as server:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port)
        await client.connect()
        await client.mail("alice@example.org")
        await client.rcpt("ops@example.com")
        server.process.send_signal(signum)
        await asyncio.sleep(0.3)  # the server has seen the signal and stopped listening
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)
        code, _ = await client.data(make_message())
        assert code == 250
        async with asyncio.timeout(30):
            assert await server.process.wait() == 0
    assert await count_inbound(database_url) == 1


async def test_sigterm_stops_http_and_smtp_and_exits_0(cli_env: dict[str, str]) -> None:
    async with serve(cli_env) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as web:
            assert (await web.get("/healthz")).status_code == 200
            assert (await web.get("/readyz")).json() == {"ready": True, "problems": []}
        assert await stop(server) == 0
    for port in (server.port, server.http_port):
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
