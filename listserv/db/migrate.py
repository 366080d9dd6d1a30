# SPDX-License-Identifier: Apache-2.0
"""Apply the Alembic migrations to an open async engine, wherever listserv runs from.

The scripts live in the repository's top-level migrations/ (beside alembic.ini, for the
alembic command); an installed package carries them as listserv/migrations.
"""

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

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


def alembic_config(connection: Connection | None = None) -> "Config":
    """An Alembic config pointing at the migrations; env.py uses the given connection."""
    from alembic.config import Config  # Alembic is imported only when there is work for it

    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["connection"] = connection
    return config


_NUMBERED = re.compile(r"(\d{4})_\w+\.py")


def newest_revision() -> str | None:
    """The head revision by the scripts' file names (NNNN_what.py, numbered one after the
    other); None when a name does not follow that rule and Alembic must read them all."""
    names = [path.name for path in (script_location() / "versions").glob("*.py")
             if path.name != "__init__.py"]
    numbers = [match[1] for name in names if (match := _NUMBERED.fullmatch(name))]
    return max(numbers) if numbers and len(numbers) == len(names) else None


def _current(connection: Connection) -> list[str] | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _pending(connection: Connection) -> bool:
    # Every command checks this; a database at the newest revision (the usual case) is
    # told without importing Alembic and reading every script, which costs a second.
    head = newest_revision()
    if head is not None and _current(connection) == [head]:
        return False
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = MigrationContext.configure(connection).get_current_revision()
    return current != ScriptDirectory.from_config(alembic_config()).get_current_head()


# The key of the PostgreSQL advisory lock held while migrating (any number all listserv
# processes agree on): replicas starting together migrate one after the other, and
# whoever comes second finds nothing left to do.
MIGRATION_LOCK = 0x6C6973747376  # "listsv"


def _upgrade(connection: Connection) -> None:
    from alembic import command

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
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
