# SPDX-License-Identifier: Apache-2.0
"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 22:17:12.629539
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Integer on SQLite, where only INTEGER PRIMARY KEY autoincrements.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailing_list",
        sa.Column("id", ID, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("list_id", sa.String(length=254), nullable=False),
        sa.Column("subject_prefix", sa.String(length=100), nullable=False),
        sa.Column("footer", sa.Text(), nullable=False),
        sa.Column(
            "posting_policy",
            sa.Enum(
                "members",
                "moderated",
                "announce",
                name="postingpolicy",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "nonmember_action",
            sa.Enum(
                "hold",
                "reject",
                "discard",
                "accept",
                name="nonmemberaction",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "subscription_policy",
            sa.Enum(
                "open",
                "confirm",
                "moderate",
                "confirm_then_moderate",
                name="subscriptionpolicy",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("max_message_kb", sa.Integer(), nullable=False),
        sa.Column("max_recipients", sa.Integer(), nullable=False),
        sa.Column(
            "reply_to",
            sa.Enum("leave", "list", "explicit", name="replyto", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("reply_to_address", sa.String(length=254), nullable=False),
        sa.Column("archive", sa.Boolean(), nullable=False),
        sa.Column("archive_url", sa.String(length=500), nullable=False),
        sa.Column("digest_size_kb", sa.Integer(), nullable=False),
        sa.Column(
            "digest_period",
            sa.Enum("daily", "weekly", "never", name="digestperiod", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column(
            "digest_weekday",
            sa.Enum(
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                name="weekday",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("digest_volume", sa.Integer(), nullable=False),
        sa.Column("digest_issue", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "personalize",
            sa.Enum("none", "verp", "full", name="personalize", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("moderator_password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
        sa.UniqueConstraint("list_id"),
    )
    op.create_table(
        "archived_message",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("author_address", sa.String(length=320), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("in_reply_to", sa.String(length=998), nullable=False),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("thread_id", ID, nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("list_id", "seq"),
    )
    op.create_index(
        op.f("ix_archived_message_message_id"), "archived_message", ["message_id"], unique=False
    )
    op.create_index(
        op.f("ix_archived_message_thread_id"), "archived_message", ["thread_id"], unique=False
    )
    op.create_table(
        "delivery_job",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "sending",
                "done",
                "failed",
                name="jobstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_delivery_job_state_due", "delivery_job", ["state", "next_attempt_at"], unique=False
    )
    op.create_table(
        "inbound",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("peer", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "incoming",
                "processing",
                "done",
                "failed",
                name="inboundstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_inbound_state_id", "inbound", ["state", "id"], unique=False)
    op.create_table(
        "list_alias",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    op.create_index(op.f("ix_list_alias_list_id"), "list_alias", ["list_id"], unique=False)
    op.create_table(
        "member",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("match_key", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum("member", "moderator", "owner", name="role", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "delivery_mode",
            sa.Enum(
                "regular",
                "digest-mime",
                "digest-plain",
                "nomail",
                name="deliverymode",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "delivery_status",
            sa.Enum(
                "enabled",
                "disabled-by-bounce",
                "disabled-by-user",
                "disabled-by-moderator",
                name="deliverystatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("moderated", sa.Boolean(), nullable=False),
        sa.Column("bounce_score", sa.Double(), nullable=False),
        sa.Column("last_bounce_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("list_id", "match_key"),
    )
    op.create_index(op.f("ix_member_match_key"), "member", ["match_key"], unique=False)
    op.create_table(
        "pending_confirmation",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("match_key", sa.String(length=320), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index(
        op.f("ix_pending_confirmation_list_id"), "pending_confirmation", ["list_id"], unique=False
    )
    op.create_index(
        op.f("ix_pending_confirmation_match_key"),
        "pending_confirmation",
        ["match_key"],
        unique=False,
    )
    op.create_table(
        "bounce_event",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("inbound_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_bounce_event_list_id"), "bounce_event", ["list_id"], unique=False)
    op.create_table(
        "delivery_recipient",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="recipientstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["delivery_job.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_delivery_recipient_job_state", "delivery_recipient", ["job_id", "state"], unique=False
    )
    op.create_table(
        "held_message",
        sa.Column("id", ID, nullable=False),
        sa.Column("list_id", ID, nullable=False),
        sa.Column("inbound_id", ID, nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index(op.f("ix_held_message_list_id"), "held_message", ["list_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_held_message_list_id"), table_name="held_message")
    op.drop_table("held_message")
    op.drop_index("ix_delivery_recipient_job_state", table_name="delivery_recipient")
    op.drop_table("delivery_recipient")
    op.drop_index(op.f("ix_bounce_event_list_id"), table_name="bounce_event")
    op.drop_table("bounce_event")
    op.drop_index(op.f("ix_pending_confirmation_match_key"), table_name="pending_confirmation")
    op.drop_index(op.f("ix_pending_confirmation_list_id"), table_name="pending_confirmation")
    op.drop_table("pending_confirmation")
    op.drop_index(op.f("ix_member_match_key"), table_name="member")
    op.drop_table("member")
    op.drop_index(op.f("ix_list_alias_list_id"), table_name="list_alias")
    op.drop_table("list_alias")
    op.drop_index("ix_inbound_state_id", table_name="inbound")
    op.drop_table("inbound")
    op.drop_index("ix_delivery_job_state_due", table_name="delivery_job")
    op.drop_table("delivery_job")
    op.drop_index(op.f("ix_archived_message_thread_id"), table_name="archived_message")
    op.drop_index(op.f("ix_archived_message_message_id"), table_name="archived_message")
    op.drop_table("archived_message")
    op.drop_table("mailing_list")
