# SPDX-License-Identifier: Apache-2.0
"""The post path: rule settings, member delivery choices, rule hits, notices, digest items.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 22:32:39
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EMPTY_LIST = sa.text("'[]'")

LIST_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("administrivia", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("require_explicit_destination", sa.Boolean(), nullable=False,
              server_default=sa.true()),
    *(sa.Column(name, sa.JSON(), nullable=False, server_default=EMPTY_LIST)
      for name in ("accept_these_nonmembers", "hold_these_nonmembers",
                   "reject_these_nonmembers", "discard_these_nonmembers", "ban_list",
                   "header_matches", "strip_headers")),
    sa.Column("duplicate_window_hours", sa.Integer(), nullable=False, server_default="72"),
]


def upgrade() -> None:
    op.create_table(
        "notice_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notice_log_address_sent", "notice_log", ["address", "sent_at"])
    op.create_table(
        "digest_item",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_issue", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_digest_item_list_pending", "digest_item", ["list_id", "digest_issue"])
    with op.batch_alter_table("delivery_job") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=998), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("inbound") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=998), nullable=False,
                                   server_default=""))
        batch.create_index("ix_inbound_list_message_id", ["list_id", "message_id"])
        batch.add_column(sa.Column("disposition", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("rule_hits", sa.JSON(), nullable=False,
                                   server_default=EMPTY_LIST))
    with op.batch_alter_table("mailing_list") as batch:
        for column in LIST_COLUMNS:
            batch.add_column(column)
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("receive_own_posts", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column("skip_if_addressed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.drop_column("skip_if_addressed")
        batch.drop_column("receive_own_posts")
    with op.batch_alter_table("mailing_list") as batch:
        for column in reversed(LIST_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("inbound") as batch:
        batch.drop_column("rule_hits")
        batch.drop_column("disposition")
        batch.drop_index("ix_inbound_list_message_id")
        batch.drop_column("message_id")
    with op.batch_alter_table("delivery_job") as batch:
        batch.drop_column("message_id")
    op.drop_index("ix_digest_item_list_pending", table_name="digest_item")
    op.drop_table("digest_item")
    op.drop_index("ix_notice_log_address_sent", table_name="notice_log")
    op.drop_table("notice_log")
