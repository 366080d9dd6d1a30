# SPDX-License-Identifier: Apache-2.0
"""Alembic environment: the schema of listserv.db.models, on the database it is given.

listserv.db.migrate hands over an open connection (`listserv db upgrade`, `listserv
serve`, the tests). The alembic command, run with the repository's alembic.ini, hands
over none: then the database is the one listserv's settings name, as for `listserv
serve`. Offline mode (--sql) is refused: revision 0008 asks the server what it supports.
"""

import asyncio
from logging.config import fileConfig

from alembic import context
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from listserv.db.engine import create_engine
from listserv.db.models import Base, modelled
from listserv.settings import load_settings

REVISION_DIGITS = 4


def number_revision(_context: MigrationContext, _revision: object,
                    directives: list[MigrationScript]) -> None:
    """Number a new revision after the head (0010 after 0009), unless --rev-id names it."""
    options = context.config.cmd_opts
    if options is not None and getattr(options, "rev_id", None):
        return
    heads = ScriptDirectory.from_config(context.config).get_heads()
    newest = max((int(head) for head in heads if head.isdigit()), default=0)
    directives[0].rev_id = f"{newest + 1:0{REVISION_DIGITS}d}"


def run_migrations(connection: Connection) -> None:
    """Run the command (upgrade, autogenerate…) on an open connection."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        include_name=modelled,
        # SQLite alters a table by copying it (Alembic's batch mode).
        render_as_batch=connection.dialect.name == "sqlite",
        process_revision_directives=number_revision,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_configured_database() -> None:
    """Run on the database of listserv's settings, as the alembic command does."""
    engine, _ = create_engine(load_settings().async_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("listserv's migrations need a database connection: no --sql")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    if context.config.config_file_name is not None:
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_on_configured_database())


main()
