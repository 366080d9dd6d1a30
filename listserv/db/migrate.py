# SPDX-License-Identifier: Apache-2.0
"""Apply the Alembic migrations to an open async engine, wherever listserv runs from.

The scripts live in the repository's top-level migrations/ (beside alembic.ini, for the
alembic command); an installed package carries them as listserv/migrations.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

PACKAGE = Path(__file__).resolve().parent.parent
# Installed (wheel, container) first; then a source checkout, editable install or not.
SCRIPT_LOCATIONS = (PACKAGE / "migrations", PACKAGE.parent / "migrations")
ENVIRONMENT = "env.py"


def script_location() -> Path:
    """The folder of env.py and versions/ that belongs to this listserv."""
    for location in SCRIPT_LOCATIONS:
        if (location / ENVIRONMENT).is_file():
            return location
    searched = " or ".join(map(str, SCRIPT_LOCATIONS))
    raise FileNotFoundError(f"no Alembic {ENVIRONMENT} in {searched}")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the migrations; env.py uses the given connection."""
    config = Config()
    config.set_main_option("script_location", str(script_location()))
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
