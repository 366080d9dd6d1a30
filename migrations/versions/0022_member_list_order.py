# SPDX-License-Identifier: Apache-2.0
"""Members are read in id order within their list: an index that gives that order.

Fan-out reads a roster 5,000 members at a time (``list_id = ? AND id > ?
ORDER BY id``). Without this index both engines answered a chunk by reading
the whole list through ``ix_member_list_delivery_mode`` and sorting it: a
million-member post read its roster two hundred times over.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 12:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_member_list_id", "member", ["list_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_member_list_id", table_name="member")
