# SPDX-License-Identifier: Apache-2.0
"""Bounce processing: per-list bounce and complaint settings, members' warnings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 02:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _number(name: str, default: int) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=str(default))


LIST_COLUMNS: list[sa.Column[Any]] = [
    _number("bounce_score_threshold", 5),
    _number("bounce_warnings", 3),
    _number("bounce_warning_interval_days", 7),
    _number("bounce_score_decay_days", 7),
    sa.Column("bounce_notify_owners", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("complaint_action", sa.Enum("unsubscribe", "disable", "none", native_enum=False,
                                          create_constraint=False, length=32),
              nullable=False, server_default="unsubscribe"),
]


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in LIST_COLUMNS:
            batch.add_column(column)
    with op.batch_alter_table("member") as batch:
        batch.add_column(_number("bounce_warnings_sent", 0))
        batch.add_column(sa.Column("bounce_warned_at", sa.DateTime(timezone=True),
                                   nullable=True))
        batch.create_index("ix_member_delivery_status", ["delivery_status"])
        batch.create_index("ix_member_bounce_score", ["bounce_score"])
    with op.batch_alter_table("bounce_event") as batch:
        batch.create_index("ix_bounce_event_created", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("bounce_event") as batch:
        batch.drop_index("ix_bounce_event_created")
    with op.batch_alter_table("member") as batch:
        batch.drop_index("ix_member_bounce_score")
        batch.drop_index("ix_member_delivery_status")
        batch.drop_column("bounce_warned_at")
        batch.drop_column("bounce_warnings_sent")
    with op.batch_alter_table("mailing_list") as batch:
        for column in reversed(LIST_COLUMNS):
            batch.drop_column(column.name)
