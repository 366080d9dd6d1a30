# SPDX-License-Identifier: Apache-2.0
"""Fixtures: a migrated database per test, settings, and listserv running on loopback.

Every test gets a fresh SQLite file copied from a template that Alembic built
once per session, so every run exercises the migrations. With
LISTSERV_TEST_DATABASE_URL set (a PostgreSQL URL), the same tests run on that
database instead: migrated once per session, emptied before each test.
"""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from listserv.app import App, running
from listserv.db.engine import create_engine
from listserv.db.migrate import upgrade
from listserv.db.models import Base
from listserv.settings import Settings
from tests.dns import Responder, start_background_responder
from tests.sink import Sink, start_sink

POSTGRES_URL = os.environ.get("LISTSERV_TEST_DATABASE_URL", "")


def async_url(url: str) -> str:
    return Settings(database_url=url).async_database_url


async def _migrate(url: str, *, reset: bool = False) -> None:
    engine, _ = create_engine(async_url(url))
    try:
        if reset:
            async with engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _empty_tables(url: str) -> None:
    engine, _ = create_engine(async_url(url))
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database: a SQLite template file, or the PostgreSQL test database."""
    if POSTGRES_URL:
        asyncio.run(_migrate(POSTGRES_URL, reset=True))
        return POSTGRES_URL
    path = tmp_path_factory.mktemp("template") / "listserv.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return str(path)


@pytest.fixture
def database_url(template_database: str, tmp_path: Path) -> str:
    """A freshly migrated, empty database for this test (a URL as operators write it)."""
    if POSTGRES_URL:
        asyncio.run(_empty_tables(POSTGRES_URL))
        return POSTGRES_URL
    path = tmp_path / "listserv.db"
    shutil.copyfile(template_database, path)
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no LISTSERV_* variables but the ones they set."""
    for name in list(os.environ):
        if name.startswith("LISTSERV_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    """The smarthost: a recording SMTP server on loopback."""
    recorder, server = await start_sink()
    yield recorder
    server.close()


@pytest.fixture(scope="session")
def empty_dns() -> Responder:
    """The nameserver of every test's DMARC lookups: it knows no names."""
    return start_background_responder()


@pytest.fixture
def settings(database_url: str, sink: Sink, empty_dns: Responder) -> Settings:
    return Settings(database_url=database_url, listen_host="127.0.0.1", smtp_port=0,
                    lmtp_port=0, domains=["example.com"], hostname="listserv.test",
                    smarthost=("127.0.0.1", sink.port), http_port=0,
                    dns_nameserver=("127.0.0.1", empty_dns.port))


@pytest.fixture
def cli_env(database_url: str, empty_dns: Responder,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The environment a CLI run (in-process or subprocess) sees."""
    variables = {"LISTSERV_DATABASE_URL": database_url,
                 "LISTSERV_DNS_NAMESERVER": f"127.0.0.1:{empty_dns.port}"}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield {**os.environ, **variables}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    async with running(settings) as running_app:
        yield running_app
