# SPDX-License-Identifier: Apache-2.0
"""Content filtering (as Mailman's filter_content) and what MIME digests do with attachments.

Every list so far keeps filtering off. Its MIME digests list the attachments
of the posts they carry from now on, as its plain digests always did.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _state(name: str, default: str, *values: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Enum(*values, native_enum=False, create_constraint=False,
                                   length=32), nullable=False, server_default=default)


def _flag(name: str, default: bool) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean(), nullable=False,
                     server_default=sa.true() if default else sa.false())


def _names(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.JSON(), nullable=False, server_default=sa.text("'[]'"))


LIST_COLUMNS: list[sa.Column[Any]] = [
    _flag("filter_content", False),
    _names("filter_types"),
    _names("pass_types"),
    _names("filter_extensions"),
    _names("pass_extensions"),
    _flag("collapse_alternatives", True),
    _flag("convert_html_to_plaintext", False),
    _state("filter_action", "discard", "discard", "hold", "reject", "forward"),
    _state("filter_signed", "keep", "keep", "strip"),
    _state("digest_attachments", "list", "list", "keep"),
]


def upgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in LIST_COLUMNS:
            batch.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        for column in reversed(LIST_COLUMNS):
            batch.drop_column(column.name)
