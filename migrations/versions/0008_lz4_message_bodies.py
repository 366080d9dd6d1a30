# SPDX-License-Identifier: Apache-2.0
"""On PostgreSQL, compress stored messages with lz4 instead of pglz.

pglz costs the server about 0.4 ms of CPU for each 20 KB message stored, more
than the rest of the commit; lz4 keeps nearly the same space for a fraction of
the time. Only new values are compressed the new way. SQLite stores the bytes
as they are, and a PostgreSQL without lz4 (before 14, or built without it)
keeps pglz.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("inbound", "held_message", "delivery_job", "archived_message", "digest_item")
HAS_LZ4 = sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                  "WHERE name = 'default_toast_compression'")


def _compress(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not bind.scalar(HAS_LZ4):
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN raw SET COMPRESSION {method}")


def upgrade() -> None:
    _compress("lz4")


def downgrade() -> None:
    _compress("pglz")
