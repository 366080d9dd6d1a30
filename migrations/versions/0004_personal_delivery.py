# SPDX-License-Identifier: Apache-2.0
"""Personalised delivery: VERP and personal footers per job, VERP probes per list.

Mail that earlier versions kept as 'deferred' (commands, confirmations,
bounces: flows they did not run) goes back to 'incoming', for the flows that
run now.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE inbound SET state = 'incoming' WHERE state = 'deferred'")
    with op.batch_alter_table("delivery_job") as batch:
        batch.add_column(sa.Column("personalize", sa.Enum(
            "none", "verp", "full", native_enum=False, create_constraint=False, length=32),
            nullable=False, server_default="none"))
        batch.add_column(sa.Column("footer", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("mailing_list") as batch:
        batch.add_column(sa.Column("verp_probe_every", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("verp_probe_every")
    with op.batch_alter_table("delivery_job") as batch:
        batch.drop_column("footer")
        batch.drop_column("personalize")
