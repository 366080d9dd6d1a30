# SPDX-License-Identifier: Apache-2.0
"""Retention: find the processed messages whose time is up without scanning them all.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_inbound_state_processed", "inbound", ["state", "processed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_state_processed", "inbound")
