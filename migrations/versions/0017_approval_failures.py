# SPDX-License-Identifier: Apache-2.0
"""Wrong moderator passwords, counted per list: past ten an hour the password is ignored.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "approval_failure",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approval_failure_list_failed", "approval_failure",
                    ["list_id", "failed_at"])


def downgrade() -> None:
    op.drop_index("ix_approval_failure_list_failed", table_name="approval_failure")
    op.drop_table("approval_failure")
