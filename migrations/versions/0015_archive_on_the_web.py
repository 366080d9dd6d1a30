# SPDX-License-Identifier: Apache-2.0
"""The archive on the web: how its pages show addresses, full-text search, and the
indexes its pages read by.

Search is the database's own: on SQLite an external-content FTS5 table over
archived_message (subject, text, author's name, and the list, so that the
index itself keeps a search to one list) kept by triggers; on PostgreSQL a
generated tsvector column with a GIN index. Both are filled for the messages
already archived. Neither is in the models (db.models.modelled).

A later revision that rebuilds archived_message on SQLite (batch_alter_table
copies the table) drops its triggers with the old table: it must create them
again, as here, and rebuild the FTS table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = "subject, body_text, author_name, list_id"
NEW = "new.id, new.subject, new.body_text, new.author_name, new.list_id"
OLD = "'delete', old.id, old.subject, old.body_text, old.author_name, old.list_id"
SQLITE_UP = (
    # unicode61 folds case and (remove_diacritics 2) accents on any letter, not only ASCII.
    f"CREATE VIRTUAL TABLE archived_message_fts USING fts5({COLUMNS}, "
    "content='archived_message', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER archived_message_fts_insert AFTER INSERT ON archived_message BEGIN "
    f"INSERT INTO archived_message_fts(rowid, {COLUMNS}) VALUES ({NEW}); END",
    "CREATE TRIGGER archived_message_fts_delete AFTER DELETE ON archived_message BEGIN "
    f"INSERT INTO archived_message_fts(archived_message_fts, rowid, {COLUMNS}) "
    f"VALUES ({OLD}); END",
    f"CREATE TRIGGER archived_message_fts_update AFTER UPDATE OF {COLUMNS} "
    "ON archived_message BEGIN "
    f"INSERT INTO archived_message_fts(archived_message_fts, rowid, {COLUMNS}) "
    f"VALUES ({OLD}); "
    f"INSERT INTO archived_message_fts(rowid, {COLUMNS}) VALUES ({NEW}); END",
    "INSERT INTO archived_message_fts(archived_message_fts) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER archived_message_fts_update",
    "DROP TRIGGER archived_message_fts_delete",
    "DROP TRIGGER archived_message_fts_insert",
    "DROP TABLE archived_message_fts",
)
# 'simple': no stemming and no stop words, the same for every language a list speaks.
# The text is cut at 100,000 characters: a tsvector holds at most 1 MB, and an
# archived post must never fail to store because its text would not fit. The vector
# stays in the row, compressed (STORAGE MAIN), not in TOAST: a search reads it for each
# post it weighs, and fetching it from TOAST took three times as long (bench/README.md).
POSTGRESQL_UP = (
    "ALTER TABLE archived_message ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple'::regconfig, subject), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, author_name), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, left(body_text, 100000)), 'D')) STORED, "
    "ALTER COLUMN search_vector SET STORAGE MAIN",
    "CREATE INDEX ix_archived_message_search ON archived_message USING gin (search_vector)",
)
POSTGRESQL_DOWN = (
    "DROP INDEX ix_archived_message_search",
    "ALTER TABLE archived_message DROP COLUMN search_vector",
)


def _run(sqlite: Sequence[str], postgresql: Sequence[str]) -> None:
    for statement in sqlite if op.get_bind().dialect.name == "sqlite" else postgresql:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.add_column(sa.Column(
            "archive_addresses", sa.Enum("obfuscate", "hide", "show", native_enum=False,
                                         create_constraint=False, length=32),
            nullable=False, server_default="obfuscate"))
    # The list page groups a list's posts by thread, the month pages by date.
    op.create_index("ix_archived_message_list_thread", "archived_message",
                    ["list_id", "thread_id", "seq"])
    op.create_index("ix_archived_message_list_dates", "archived_message",
                    ["list_id", "sent_at", "archived_at"])
    _run(SQLITE_UP, POSTGRESQL_UP)


def downgrade() -> None:
    _run(SQLITE_DOWN, POSTGRESQL_DOWN)
    op.drop_index("ix_archived_message_list_dates", "archived_message")
    op.drop_index("ix_archived_message_list_thread", "archived_message")
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("archive_addresses")
