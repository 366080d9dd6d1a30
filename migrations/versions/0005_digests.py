# SPDX-License-Identifier: Apache-2.0
"""Digests: volume numbering, when the last digest went out, digests owed to members.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERY_MODE = sa.Enum("regular", "digest-mime", "digest-plain", "nomail", native_enum=False,
                        create_constraint=False, length=32)


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.add_column(sa.Column("digest_volume_period", sa.Enum(
            "yearly", "manual", native_enum=False, create_constraint=False, length=32),
            nullable=False, server_default="yearly"))
        batch.add_column(sa.Column("digest_last_sent_at", sa.DateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("digest_owed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("digest_owed_mode", DELIVERY_MODE, nullable=True))
        batch.create_index("ix_member_digest_owed_at", ["digest_owed_at"])
    with op.batch_alter_table("digest_item") as batch:
        batch.add_column(sa.Column("digest_volume", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("digest_item") as batch:
        batch.drop_column("digest_volume")
    with op.batch_alter_table("member") as batch:
        batch.drop_index("ix_member_digest_owed_at")
        batch.drop_column("digest_owed_mode")
        batch.drop_column("digest_owed_at")
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("digest_last_sent_at")
        batch.drop_column("digest_volume_period")
