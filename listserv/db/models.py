# SPDX-License-Identifier: Apache-2.0
"""SQLAlchemy models: the whole shared state of listserv.

Table names are singular; timestamps are timezone-aware UTC named *_at;
states are StrEnums stored as their values. The migrations (migrations/,
shipped as listserv.migrations) must agree with these models
(tests/db/test_migrations.py).
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import DateTime as SqlDateTime
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from listserv.core import policy
from listserv.core.filtering import FilterAction, FilterSigned

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every engine (SQLite stores it naive)."""

    impl = SqlDateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class OctetText(TypeDecorator[str]):
    """Text stored as its UTF-8 octets: PostgreSQL's text holds no NUL, and text read
    from mail may (an encoded word can carry one)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else value.encode("utf-8", "surrogatepass")

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> str | None:
        return None if value is None else value.decode("utf-8", "surrogatepass")


def now() -> datetime:
    return datetime.now(UTC)


def state(enum: type[StrEnum]) -> Enum:
    """Store a StrEnum by value in a VARCHAR (no native ENUM type to migrate)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )


# Full-text search is kept by the database itself (migration 0011), not by these models:
# SQLite's FTS5 table (with its shadow tables), PostgreSQL's tsvector column and index.
_SEARCH_OBJECTS = ("archived_message_fts", "search_vector", "ix_archived_message_search")


def modelled(name: str | None, type_: str, parent_names: Any) -> bool:
    """Whether a database object is the models' to compare (Alembic's include_name)."""
    return not (name or "").startswith(_SEARCH_OBJECTS)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class MailingList(Base):
    """A list and its per-list settings (see core.list_settings)."""

    __tablename__ = "mailing_list"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    list_id: Mapped[str] = mapped_column(String(254), unique=True)
    subject_prefix: Mapped[str] = mapped_column(String(100))
    footer: Mapped[str] = mapped_column(Text, default="")
    posting_policy: Mapped[policy.PostingPolicy] = mapped_column(
        state(policy.PostingPolicy), default=policy.PostingPolicy.MEMBERS)
    nonmember_action: Mapped[policy.Action] = mapped_column(
        state(policy.Action), default=policy.Action.HOLD)
    subscription_policy: Mapped[policy.SubscriptionPolicy] = mapped_column(
        state(policy.SubscriptionPolicy), default=policy.SubscriptionPolicy.CONFIRM)
    emergency: Mapped[bool] = mapped_column(default=False)
    administrivia: Mapped[bool] = mapped_column(default=True)
    require_explicit_destination: Mapped[bool] = mapped_column(default=True)
    accept_these_nonmembers: Mapped[list[Any]] = mapped_column(default=list)
    hold_these_nonmembers: Mapped[list[Any]] = mapped_column(default=list)
    reject_these_nonmembers: Mapped[list[Any]] = mapped_column(default=list)
    discard_these_nonmembers: Mapped[list[Any]] = mapped_column(default=list)
    ban_list: Mapped[list[Any]] = mapped_column(default=list)
    header_matches: Mapped[list[Any]] = mapped_column(default=list)
    strip_headers: Mapped[list[Any]] = mapped_column(default=list)
    duplicate_window_hours: Mapped[int] = mapped_column(default=72)
    max_message_kb: Mapped[int] = mapped_column(default=1024)
    max_recipients: Mapped[int] = mapped_column(default=10)
    reply_to: Mapped[policy.ReplyTo] = mapped_column(
        state(policy.ReplyTo), default=policy.ReplyTo.LEAVE)
    reply_to_address: Mapped[str] = mapped_column(String(254), default="")
    archive: Mapped[bool] = mapped_column(default=True)
    archive_url: Mapped[str] = mapped_column(String(500), default="")
    digest_size_kb: Mapped[int] = mapped_column(default=30)
    digest_period: Mapped[policy.DigestPeriod] = mapped_column(
        state(policy.DigestPeriod), default=policy.DigestPeriod.DAILY)
    digest_hour: Mapped[int] = mapped_column(default=6)
    digest_weekday: Mapped[policy.Weekday] = mapped_column(
        state(policy.Weekday), default=policy.Weekday.MONDAY)
    digest_volume: Mapped[int] = mapped_column(default=1)
    digest_issue: Mapped[int] = mapped_column(default=0)  # of the last digest sent
    digest_volume_period: Mapped[policy.VolumePeriod] = mapped_column(
        state(policy.VolumePeriod), default=policy.VolumePeriod.YEARLY)
    digest_last_sent_at: Mapped[datetime | None]  # decides when a new year's volume starts
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    personalize: Mapped[policy.Personalize] = mapped_column(
        state(policy.Personalize), default=policy.Personalize.NONE)
    verp_probe_every: Mapped[int] = mapped_column(default=0)
    moderator_password_hash: Mapped[str] = mapped_column(String(200), default="")
    max_days_to_hold: Mapped[int] = mapped_column(default=7)
    hold_expiry_action: Mapped[policy.Action] = mapped_column(
        state(policy.Action), default=policy.Action.DISCARD)
    notify_author_on_hold: Mapped[bool] = mapped_column(default=True)
    moderator_notices_per_hour: Mapped[int] = mapped_column(default=10)
    flood_max_posts: Mapped[int] = mapped_column(default=50)
    flood_window_minutes: Mapped[int] = mapped_column(default=60)
    unsubscribe_confirm: Mapped[bool] = mapped_column(default=True)
    send_welcome: Mapped[bool] = mapped_column(default=True)
    welcome_message: Mapped[str] = mapped_column(Text, default="")
    send_goodbye: Mapped[bool] = mapped_column(default=True)
    goodbye_message: Mapped[str] = mapped_column(Text, default="")
    notify_owners_of_subscriptions: Mapped[bool] = mapped_column(default=False)
    roster_visibility: Mapped[policy.RosterVisibility] = mapped_column(
        state(policy.RosterVisibility), default=policy.RosterVisibility.PRIVATE)
    bounce_score_threshold: Mapped[int] = mapped_column(default=5)
    bounce_warnings: Mapped[int] = mapped_column(default=3)
    bounce_warning_interval_days: Mapped[int] = mapped_column(default=7)
    bounce_score_decay_days: Mapped[int] = mapped_column(default=7)
    bounce_notify_owners: Mapped[bool] = mapped_column(default=True)
    complaint_action: Mapped[policy.ComplaintAction] = mapped_column(
        state(policy.ComplaintAction), default=policy.ComplaintAction.UNSUBSCRIBE)
    dmarc_mitigation: Mapped[policy.DmarcMitigation] = mapped_column(
        state(policy.DmarcMitigation), default=policy.DmarcMitigation.MUNGE_FROM)
    dmarc_mitigate_none: Mapped[bool] = mapped_column(default=False)
    dmarc_always: Mapped[list[Any]] = mapped_column(default=list)
    dmarc_author_in: Mapped[policy.AuthorIn] = mapped_column(
        state(policy.AuthorIn), default=policy.AuthorIn.REPLY_TO)
    dmarc_on_dns_failure: Mapped[policy.DnsFailure] = mapped_column(
        state(policy.DnsFailure), default=policy.DnsFailure.MITIGATE)
    dkim_keep_incoming: Mapped[bool] = mapped_column(default=True)
    moderator_replies_need_auth: Mapped[bool] = mapped_column(default=True)
    archive_visibility: Mapped[policy.ArchiveVisibility] = mapped_column(
        state(policy.ArchiveVisibility), default=policy.ArchiveVisibility.PRIVATE)
    archive_addresses: Mapped[policy.ArchiveAddresses] = mapped_column(
        state(policy.ArchiveAddresses), default=policy.ArchiveAddresses.OBFUSCATE)
    one_click_unsubscribe: Mapped[bool] = mapped_column(default=True)
    filter_content: Mapped[bool] = mapped_column(default=False)
    filter_types: Mapped[list[Any]] = mapped_column(default=list)
    pass_types: Mapped[list[Any]] = mapped_column(default=list)
    filter_extensions: Mapped[list[Any]] = mapped_column(default=list)
    pass_extensions: Mapped[list[Any]] = mapped_column(default=list)
    collapse_alternatives: Mapped[bool] = mapped_column(default=True)
    convert_html_to_plaintext: Mapped[bool] = mapped_column(default=False)
    filter_action: Mapped[FilterAction] = mapped_column(
        state(FilterAction), default=FilterAction.DISCARD)
    filter_signed: Mapped[FilterSigned] = mapped_column(
        state(FilterSigned), default=FilterSigned.KEEP)
    digest_attachments: Mapped[policy.DigestAttachments] = mapped_column(
        state(policy.DigestAttachments), default=policy.DigestAttachments.LIST)
    created_at: Mapped[datetime] = mapped_column(default=now)


class SiteSecret(Base):
    """A key the site makes once and every process shares (the database is the shared state)."""

    __tablename__ = "site_secret"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)


class ApiToken(Base):
    """A bearer token of the admin API, kept only as its SHA-256 (the token is 256 random
    bits: a fast hash is enough, and lets a request find its token by the digest)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)
    last_used_at: Mapped[datetime | None]


class ListAlias(Base):
    """A former address of a renamed list; mail to it (and its sub-addresses) still arrives."""

    __tablename__ = "list_alias"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"),
                                         index=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=now)


class Member(Base):
    """One address on one list; moderators and owners are members with a role."""

    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("list_id", "match_key"),
                      Index("ix_member_delivery_status", "delivery_status"),
                      Index("ix_member_bounce_score", "bounce_score"),
                      Index("ix_member_list_delivery_mode", "list_id", "delivery_mode"),
                      Index("ix_member_list_id", "list_id", "id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    match_key: Mapped[str] = mapped_column(String(254), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[policy.Role] = mapped_column(state(policy.Role), default=policy.Role.MEMBER)
    delivery_mode: Mapped[policy.DeliveryMode] = mapped_column(
        state(policy.DeliveryMode), default=policy.DeliveryMode.REGULAR)
    delivery_status: Mapped[policy.DeliveryStatus] = mapped_column(
        state(policy.DeliveryStatus), default=policy.DeliveryStatus.ENABLED)
    moderated: Mapped[bool] = mapped_column(default=False)
    receive_own_posts: Mapped[bool] = mapped_column(default=True)
    skip_if_addressed: Mapped[bool] = mapped_column(default=False)
    bounce_score: Mapped[float] = mapped_column(default=0.0)
    last_bounce_at: Mapped[datetime | None]  # of the last bounce that raised the score
    bounce_warnings_sent: Mapped[int] = mapped_column(default=0)
    bounce_warned_at: Mapped[datetime | None]  # disabled by bounces, or last warned, then
    # Set when the member left digest delivery for regular mail: the posts collected
    # until then are owed in one last digest of this format (listserv.handling.digests).
    digest_owed_at: Mapped[datetime | None] = mapped_column(index=True)
    digest_owed_mode: Mapped[policy.DeliveryMode | None] = mapped_column(
        state(policy.DeliveryMode))
    # Set when the member left regular delivery: the posts collected before then reached
    # them one by one, so their digests hold only the posts collected since.
    digest_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class InboundState(StrEnum):
    INCOMING = "incoming"  # stored, waiting for the pipeline
    DONE = "done"
    FAILED = "failed"  # processing raised; kept with its traceback
    PRUNED = "pruned"  # done, and its body dropped after the retention time


class Inbound(Base):
    """A message as received, one row per list recipient; committed before the 250."""

    __tablename__ = "inbound"
    __table_args__ = (Index("ix_inbound_state_id", "state", "id"),
                      Index("ix_inbound_state_processed", "state", "processed_at"),
                      Index("ix_inbound_list_message_id", "list_id", "message_id"),
                      Index("ix_inbound_list_received", "list_id", "received_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailing_list.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(320))
    mail_from: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(998), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    peer: Mapped[str] = mapped_column(String(100), default="")
    received_at: Mapped[datetime] = mapped_column(default=now)
    state: Mapped[InboundState] = mapped_column(state(InboundState),
                                                default=InboundState.INCOMING)
    claimed_at: Mapped[datetime | None]  # when a worker last took it up
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    disposition: Mapped[str | None] = mapped_column(String(32))  # accepted, held, rejected…
    rule_hits: Mapped[list[Any]] = mapped_column(default=list)


class HeldMessage(Base):
    """A post waiting for a moderator's decision, and the decision once made."""

    __tablename__ = "held_message"
    __table_args__ = (Index("ix_held_message_open", "decided_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"),
                                         index=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id", ondelete="SET NULL"))
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the moderators' reply address
    withdraw_token: Mapped[str | None] = mapped_column(String(64), unique=True)  # the author's
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(998), default="")
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    held_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decision: Mapped[str | None] = mapped_column(String(32))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    notified_at: Mapped[datetime | None]  # when the moderators were told
    notice: Mapped[str | None] = mapped_column(String(16))  # "single" or "summary"


class PendingConfirmation(Base):
    """A request (subscribe, unsubscribe, invitation…) waiting for its token to come back."""

    __tablename__ = "pending_confirmation"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"),
                                         index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    action: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    match_key: Mapped[str] = mapped_column(String(320), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class JobState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed; lease_until says until when
    DONE = "done"
    FAILED = "failed"


class DeliveryJob(Base):
    """One outgoing message and its envelope sender; recipients are rows of their own."""

    __tablename__ = "delivery_job"
    __table_args__ = (Index("ix_delivery_job_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailing_list.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(998), default="")
    mail_from: Mapped[str] = mapped_column(String(320))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    personalize: Mapped[policy.Personalize] = mapped_column(
        state(policy.Personalize), default=policy.Personalize.NONE)
    footer: Mapped[str] = mapped_column(Text, default="")  # personalize=full: per member
    # The site's base URL where each copy carries its member's one-click link; '' for none.
    web_url: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[JobState] = mapped_column(state(JobState), default=JobState.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(default=now)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)


class Fanout(Base):
    """A post still being queued for a large list: the members after after_member_id are
    queued a chunk per transaction, the cursor moving with each (so a crash repeats none)."""

    __tablename__ = "fanout"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    after_member_id: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(320))  # match keys, as core.recipients wants
    addressed: Mapped[list[Any]] = mapped_column(default=list)
    # The copy every member's job is made from, as delivery_job keeps it.
    message_id: Mapped[str] = mapped_column(String(998), default="")
    mail_from: Mapped[str] = mapped_column(String(320))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    personalize: Mapped[policy.Personalize] = mapped_column(
        state(policy.Personalize), default=policy.Personalize.NONE)
    footer: Mapped[str] = mapped_column(Text, default="")
    web_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=now)


class RecipientState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryRecipient(Base):
    """One recipient of a delivery job, with its own result."""

    __tablename__ = "delivery_recipient"
    __table_args__ = (Index("ix_delivery_recipient_job_state", "job_id", "state"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("delivery_job.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    state: Mapped[RecipientState] = mapped_column(state(RecipientState),
                                                  default=RecipientState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class BounceEvent(Base):
    """A delivery failure reported for an address, by DSN, VERP or the smarthost."""

    __tablename__ = "bounce_event"
    __table_args__ = (Index("ix_bounce_event_created", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"),
                                         index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(32))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    processed_at: Mapped[datetime | None]


class BounceProbe(Base):
    """A notice sent to a member whom a report to the plain bounce address named: its
    own bounce, to its own signed VERP address, is the proof that counts."""

    __tablename__ = "bounce_probe"
    __table_args__ = (Index("ix_bounce_probe_member_sent", "member_id", "sent_at"),
                      Index("ix_bounce_probe_list_sent", "list_id", "sent_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id", ondelete="SET NULL"))
    sent_at: Mapped[datetime] = mapped_column(default=now)
    bounced_at: Mapped[datetime | None]  # when its bounce came back (and counted)


class ArchivedMessage(Base):
    """An accepted post stored whole, with what the archive indexes and threads by."""

    __tablename__ = "archived_message"
    __table_args__ = (UniqueConstraint("list_id", "seq"),
                      Index("ix_archived_message_list_thread", "list_id", "thread_id", "seq"),
                      Index("ix_archived_message_list_dates", "list_id", "sent_at",
                            "archived_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    seq: Mapped[int]
    message_id: Mapped[str] = mapped_column(String(998), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    author_address: Mapped[str] = mapped_column(String(320), default="")
    author_name: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None]
    archived_at: Mapped[datetime] = mapped_column(default=now)
    in_reply_to: Mapped[str] = mapped_column(String(998), default="")
    references: Mapped[str] = mapped_column(Text, default="")
    thread_id: Mapped[int | None] = mapped_column(Id, index=True)
    body_text: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class ApprovalFailure(Base):
    """A post whose moderator password was wrong: what the list's hourly limit counts."""

    __tablename__ = "approval_failure"
    __table_args__ = (Index("ix_approval_failure_list_failed", "list_id", "failed_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(320))
    failed_at: Mapped[datetime] = mapped_column(default=now)


class NoticeLog(Base):
    """Automatic mail sent to an address, so replies can be rate limited per day."""

    __tablename__ = "notice_log"
    __table_args__ = (Index("ix_notice_log_address_sent", "address", "sent_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailing_list.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(default=now)


class FormSubmission(Base):
    """A web form that mails someone (subscribe, sign in), as submitted: what the per-client
    hourly limit counts. The client is a keyed hash of its network, never its address."""

    __tablename__ = "form_submission"
    __table_args__ = (Index("ix_form_submission_client_at", "client", "submitted_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    form: Mapped[str] = mapped_column(String(32))
    submitted_at: Mapped[datetime] = mapped_column(default=now)


class DigestItem(Base):
    """An accepted post waiting for the list's next digest (decorated, no per-member parts)."""

    __tablename__ = "digest_item"
    __table_args__ = (Index("ix_digest_item_list_pending", "list_id", "digest_issue"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=now)
    # The issue it went out in: None while pending, 0 if the list had no digest members.
    digest_issue: Mapped[int | None]
    digest_volume: Mapped[int | None]
    # The post as digests carry it (core.digest_entries.Entry), worked out when it was
    # kept; all None for a post the digest reads itself: one kept before migration 0021,
    # or while the list had no digest members.
    digest_subject: Mapped[str | None] = mapped_column(OctetText)
    digest_author: Mapped[str | None] = mapped_column(OctetText)
    digest_text: Mapped[str | None] = mapped_column(OctetText)
    digest_body: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: raw as it is
    digest_listed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: no attachments
