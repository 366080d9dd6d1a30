# SPDX-License-Identifier: Apache-2.0
"""Per-member copies: the one-click links a delivery job's copies carry, and bounce probes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Integer on SQLite, where only INTEGER PRIMARY KEY autoincrements.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_job") as batch:
        batch.add_column(sa.Column("web_url", sa.String(500), nullable=False, server_default=""))
    op.create_table(
        "bounce_probe",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("inbound_id", ID, nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bounced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bounce_probe_member_sent", "bounce_probe", ["member_id", "sent_at"])
    op.create_index("ix_bounce_probe_list_sent", "bounce_probe", ["list_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_bounce_probe_list_sent", "bounce_probe")
    op.drop_index("ix_bounce_probe_member_sent", "bounce_probe")
    op.drop_table("bounce_probe")
    with op.batch_alter_table("delivery_job") as batch:
        batch.drop_column("web_url")
