# SPDX-License-Identifier: Apache-2.0
"""The web side: the site's secret key, and who may read a list's archive on the web.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_secret",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("mailing_list") as batch:
        # Private by default: an upgrade must not publish an archive nobody chose to show.
        batch.add_column(sa.Column(
            "archive_visibility", sa.Enum("public", "members", "private", native_enum=False,
                                          create_constraint=False, length=32),
            nullable=False, server_default="private"))
        batch.add_column(sa.Column("one_click_unsubscribe", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("one_click_unsubscribe")
        batch.drop_column("archive_visibility")
    op.drop_table("site_secret")
