# SPDX-License-Identifier: Apache-2.0
"""Members' addresses are kept in Unicode (RFC 6530): the local part in NFC, the domain
lower-cased in U-labels; match keys put their local part in NFC too.

A member added as ``jürgen@xn--mller-kva.example`` is shown as ``jürgen@müller.example``
from now on. A key that NFC would make equal to another member's of the same list is
left as it was: they were two members, and stay so until an owner merges them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 19:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, list_id, address, match_key FROM member"))
    members = [tuple(row) for row in rows]
    taken = {(list_id, key) for _, list_id, _, key in members}
    for member_id, list_id, address, key in members:
        if address.isascii() and "xn--" not in address.lower():
            continue
        new_address, new_key = _shown(address), _keyed(key)
        if new_key != key and (list_id, new_key) in taken:
            new_key = key
        taken.add((list_id, new_key))
        if (new_address, new_key) != (address, key):
            connection.execute(sa.text("UPDATE member SET address = :address, match_key = :key "
                                       "WHERE id = :id"),
                               {"address": new_address, "key": new_key, "id": member_id})


def _shown(address: str) -> str:
    """The address in NFC with its domain in U-labels (as core.addresses.parse_address)."""
    local, _, domain = address.rpartition("@")
    try:
        domain = domain.lower().encode("idna").decode("ascii").encode("ascii").decode("idna")
    except UnicodeError:  # no valid domain: leave the address alone
        return address
    return f"{unicodedata.normalize('NFC', local)}@{domain}"


def _keyed(key: str) -> str:
    local, _, domain = key.rpartition("@")
    return f"{unicodedata.normalize('NFC', local).lower()}@{domain}"


def downgrade() -> None:
    # Earlier versions read either form: they match members by the key, whose domain
    # stays in A-labels.
    pass
