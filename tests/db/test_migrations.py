# SPDX-License-Identifier: Apache-2.0
import asyncio
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, inspect, make_url, text
from sqlalchemy import create_engine as create_sync_engine

from listserv.core.list_settings import LIST_SETTINGS, MEMBER_SETTINGS
from listserv.db.engine import create_engine
from listserv.db.migrate import alembic_config, upgrade
from listserv.db.models import Base, MailingList, Member, modelled
from tests.conftest import async_url


def _differences(connection: Connection, metadata: MetaData = Base.metadata) -> list[object]:
    # Tables, columns, types, nullability, indexes, unique and foreign keys. Not server
    # defaults: the revisions that add a NOT NULL column give it one to fill the rows
    # already there (and the inserts of processes not yet upgraded), while the models
    # fill every column from Python and declare none.
    context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                          "include_name": modelled})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine, _ = create_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_a_model_the_migrations_lack_is_found(database_url: str) -> None:
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["member"].append_column(Column("nickname", String(64)))
    engine, _ = create_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences, metadata)
    finally:
        await engine.dispose()
    assert [difference[0] for difference in differences] == ["add_column"]


async def test_upgrade_on_a_current_database_does_nothing(database_url: str) -> None:
    engine, _ = create_engine(async_url(database_url))
    try:
        assert await upgrade(engine) is False
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"mailing_list", "member", "inbound", "held_message", "pending_confirmation",
                "delivery_job", "delivery_recipient", "bounce_event", "archived_message",
                "list_alias"} <= tables
    finally:
        await engine.dispose()


async def test_on_postgresql_stored_messages_are_compressed_with_lz4(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores the bytes as they are")
    tables = ["inbound", "held_message", "delivery_job", "archived_message", "digest_item"]
    engine, _ = create_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            methods = dict((await connection.execute(text(
                "SELECT attrelid::regclass::text, attcompression::text FROM pg_attribute "
                "WHERE attname = 'raw' AND attrelid::regclass::text = ANY(:tables)"),
                {"tables": tables})).all())
    finally:
        await engine.dispose()
    assert methods == dict.fromkeys(tables, "l")


async def test_on_postgresql_the_search_vector_stays_in_the_row(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite searches with FTS5")
    engine, _ = create_engine(async_url(database_url))
    try:
        async with engine.connect() as connection:
            storage = await connection.scalar(text(
                "SELECT attstorage::text FROM pg_attribute WHERE attname = 'search_vector' "
                "AND attrelid = 'archived_message'::regclass"))
    finally:
        await engine.dispose()
    assert storage == "m"  # MAIN: compressed in the row, not fetched from TOAST


def test_every_setting_has_a_column() -> None:
    list_columns = set(MailingList.__table__.columns.keys())
    for name, setting in LIST_SETTINGS.items():
        assert (f"{name}_hash" if setting.secret else name) in list_columns
    assert set(MEMBER_SETTINGS) <= set(Member.__table__.columns.keys())


def test_mail_earlier_versions_deferred_is_processed_after_the_upgrade(tmp_path: Path) -> None:
    """Before 0004, commands, confirmations and bounces were kept as 'deferred'."""
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0003")
            connection.execute(text(
                "INSERT INTO inbound (recipient, mail_from, message_id, raw, peer, received_at,"
                " state, attempts, rule_hits) VALUES ('ops-request@example.com', 'a@example.org',"
                " '', x'00', '', '2026-11-27 00:00:00', 'deferred', 0, '[]')"))
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
            assert connection.scalar(text("SELECT state FROM inbound")) == "incoming"
    finally:
        engine.dispose()


def test_the_search_index_is_filled_for_posts_archived_before_it(tmp_path: Path) -> None:
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0010")
            # (this engine does not enforce foreign keys: no list row is needed)
            connection.execute(text(
                "INSERT INTO archived_message (list_id, seq, message_id, subject, "
                "author_address, author_name, archived_at, in_reply_to, \"references\", "
                "body_text, raw) VALUES (1, 1, '<a@x>', 'Valve seals', '', 'Alice', "
                "'2026-11-27 00:00:00', '', '', 'The seals leak.', x'00')"))
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
            assert connection.scalar(text(
                "SELECT rowid FROM archived_message_fts WHERE archived_message_fts "
                "MATCH 'leak'")) == 1
    finally:
        engine.dispose()


async def _autocommit(url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE and DROP DATABASE need that)."""
    engine, _ = create_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _fresh_database(url: str, tmp_path: Path) -> str:
    """An empty database beside the test one: a new file, or a new PostgreSQL database."""
    if not url.startswith("postgresql"):
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    name = f"{make_url(url).database}_fresh"
    await _autocommit(url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def test_processes_starting_together_migrate_a_new_database_once(
        database_url: str, tmp_path: Path) -> None:
    # Two replicas of a deployment start at the same moment on an empty database.
    fresh = await _fresh_database(database_url, tmp_path)
    engines = [create_engine(async_url(fresh))[0] for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        async with engines[0].connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        for engine in engines:
            await engine.dispose()
        if fresh.startswith("postgresql"):
            await _autocommit(database_url, f"DROP DATABASE {make_url(fresh).database}")
