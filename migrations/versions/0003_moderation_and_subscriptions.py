# SPDX-License-Identifier: Apache-2.0
"""Moderation by mail and subscriptions: hold, flood and membership settings; held notices.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:50:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _flag(name: str, default: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean(), nullable=False,
                     server_default=sa.true() if default else sa.false())


def _number(name: str, default: int) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=str(default))


LIST_COLUMNS: list[sa.Column[Any]] = [
    _number("max_days_to_hold", 7),
    sa.Column("hold_expiry_action", sa.Enum("hold", "reject", "discard", "accept",
                                            native_enum=False, create_constraint=False,
                                            length=32),
              nullable=False, server_default="discard"),
    _flag("notify_author_on_hold", True),
    _number("moderator_notices_per_hour", 10),
    _number("flood_max_posts", 50),
    _number("flood_window_minutes", 60),
    _flag("unsubscribe_confirm", True),
    _flag("send_welcome", True),
    sa.Column("welcome_message", sa.Text(), nullable=False, server_default=""),
    _flag("send_goodbye", True),
    sa.Column("goodbye_message", sa.Text(), nullable=False, server_default=""),
    _flag("notify_owners_of_subscriptions", False),
    sa.Column("roster_visibility", sa.Enum("private", "members", "public", native_enum=False,
                                           create_constraint=False, length=32),
              nullable=False, server_default="private"),
]


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in LIST_COLUMNS:
            batch.add_column(column)
    with op.batch_alter_table("held_message") as batch:
        batch.add_column(sa.Column("withdraw_token", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("notice", sa.String(length=16), nullable=True))
        batch.create_unique_constraint("uq_held_message_withdraw_token", ["withdraw_token"])
        batch.create_index("ix_held_message_open", ["decided_at", "expires_at"])
    with op.batch_alter_table("inbound") as batch:
        batch.create_index("ix_inbound_list_received", ["list_id", "received_at"])


def downgrade() -> None:
    with op.batch_alter_table("inbound") as batch:
        batch.drop_index("ix_inbound_list_received")
    with op.batch_alter_table("held_message") as batch:
        batch.drop_index("ix_held_message_open")
        batch.drop_constraint("uq_held_message_withdraw_token", type_="unique")
        for name in ("notice", "notified_at", "decision_reason", "withdraw_token"):
            batch.drop_column(name)
    with op.batch_alter_table("mailing_list") as batch:
        for column in reversed(LIST_COLUMNS):
            batch.drop_column(column.name)
