# SPDX-License-Identifier: Apache-2.0
"""Posts kept for the digest also keep the form digests carry them in, worked out once.

A digest then joins what was kept instead of parsing every post again (and
taking the list's footer off each). Posts kept before this revision have
none, nor do posts kept while the list has no digest members (an index
answers that question); the digest reads those as before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("digest_subject", "digest_author", "digest_text", "digest_body", "digest_listed")
LARGE = ("digest_text", "digest_body", "digest_listed")
HAS_LZ4 = sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                  "WHERE name = 'default_toast_compression'")


def upgrade() -> None:
    with op.batch_alter_table("digest_item") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.LargeBinary(), nullable=True))
    op.create_index("ix_member_list_delivery_mode", "member", ["list_id", "delivery_mode"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.scalar(HAS_LZ4):  # as 0008 does for raw
        for name in LARGE:
            op.execute(f"ALTER TABLE digest_item ALTER COLUMN {name} SET COMPRESSION lz4")


def downgrade() -> None:
    op.drop_index("ix_member_list_delivery_mode", table_name="member")
    with op.batch_alter_table("digest_item") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
