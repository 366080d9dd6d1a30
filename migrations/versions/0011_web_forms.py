# SPDX-License-Identifier: Apache-2.0
"""Web forms that mail someone, counted per client for their hourly limit.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "form_submission",
        sa.Column("id", ID, nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("form", sa.String(length=32), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_form_submission_client_at", "form_submission",
                    ["client", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_form_submission_client_at", table_name="form_submission")
    op.drop_table("form_submission")
