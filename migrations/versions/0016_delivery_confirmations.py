# SPDX-License-Identifier: Apache-2.0
"""Every delivery change by mail is confirmed: pending "nomail" requests become "delivery".

Only stopping mail was confirmed before; its pending requests keep working
under the name of the wider request.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE pending_confirmation SET action = 'delivery' WHERE action = 'nomail'")


def downgrade() -> None:
    # The old code read every such request as "stop mail" (a resume too): drop them; they
    # last LISTSERV_CONFIRM_DAYS, and a new set command makes a new one.
    op.execute("DELETE FROM pending_confirmation WHERE action = 'delivery'")
