# SPDX-License-Identifier: Apache-2.0
"""Apply the Alembic migrations shipped inside the package, on an open async engine."""

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at listserv/migrations; env.py uses the given connection."""
    config = Config()
    config.set_main_option("script_location", str(files("listserv") / "migrations"))
    config.attributes["connection"] = connection
    return config


def _pending(connection: Connection) -> bool:
    current = MigrationContext.configure(connection).get_current_revision()
    return current != ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(engine: AsyncEngine) -> bool:
    """Bring the schema to the newest revision; return whether anything was applied."""
    async with engine.connect() as connection:
        if not await connection.run_sync(_pending):
            return False
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
    return True


async def pending(engine: AsyncEngine) -> bool:
    """Whether the schema lags the newest revision (readiness: a process must not serve an
    older schema than its code)."""
    async with engine.connect() as connection:
        return bool(await connection.run_sync(_pending))
