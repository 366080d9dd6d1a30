# SPDX-License-Identifier: Apache-2.0
"""Mail authentication: per-list DMARC mitigation, incoming DKIM signatures, moderator replies.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 03:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _state(name: str, default: str, *values: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Enum(*values, native_enum=False, create_constraint=False,
                                   length=32), nullable=False, server_default=default)


def _flag(name: str, default: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean(), nullable=False,
                     server_default=sa.true() if default else sa.false())


LIST_COLUMNS: list[sa.Column[Any]] = [
    _state("dmarc_mitigation", "munge_from", "none", "munge_from", "wrap"),
    _flag("dmarc_mitigate_none", False),
    sa.Column("dmarc_always", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    _state("dmarc_author_in", "reply_to", "reply_to", "cc", "both"),
    _state("dmarc_on_dns_failure", "mitigate", "mitigate", "none"),
    _flag("dkim_keep_incoming", True),
    _flag("moderator_replies_need_auth", True),
]


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in LIST_COLUMNS:
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in reversed(LIST_COLUMNS):
            batch.drop_column(column.name)
