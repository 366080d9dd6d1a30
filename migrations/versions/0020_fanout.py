# SPDX-License-Identifier: Apache-2.0
"""Fan-out of a post to a large list goes on across transactions: the fanout table.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fanout",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("after_member_id", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("addressed", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("personalize", sa.Enum("none", "verp", "full", name="personalize",
                                         native_enum=False, length=32), nullable=False),
        sa.Column("footer", sa.Text(), nullable=False),
        sa.Column("web_url", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("fanout")
