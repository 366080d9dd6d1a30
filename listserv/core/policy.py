# SPDX-License-Identifier: Apache-2.0
"""Named states of lists and members, and the frozen snapshots the core works on.

The database turns its rows into these snapshots (db.snapshots); no ORM
object ever enters the core.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from listserv.core.addresses import sub_address
from listserv.core.filtering import ContentFilter


class Role(StrEnum):
    MEMBER = "member"
    MODERATOR = "moderator"
    OWNER = "owner"


class DeliveryMode(StrEnum):
    REGULAR = "regular"
    DIGEST_MIME = "digest-mime"
    DIGEST_PLAIN = "digest-plain"
    NOMAIL = "nomail"


class DeliveryStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED_BY_BOUNCE = "disabled-by-bounce"
    DISABLED_BY_USER = "disabled-by-user"
    DISABLED_BY_MODERATOR = "disabled-by-moderator"


class PostingPolicy(StrEnum):
    """Who may post without moderation (nonmembers are governed by Action)."""

    MEMBERS = "members"  # every member posts freely
    MODERATED = "moderated"  # every member post is held
    ANNOUNCE = "announce"  # only moderators and owners post; member posts are held


class Action(StrEnum):
    """What happens to a post: a rule's verdict, or a list's nonmember action."""

    HOLD = "hold"
    REJECT = "reject"
    DISCARD = "discard"
    ACCEPT = "accept"


class SubscriptionPolicy(StrEnum):
    OPEN = "open"
    CONFIRM = "confirm"
    MODERATE = "moderate"
    CONFIRM_THEN_MODERATE = "confirm_then_moderate"


class RosterVisibility(StrEnum):
    """Who may ask for the member list with the ``who`` command."""

    PRIVATE = "private"  # nobody by mail; owners use the CLI
    MEMBERS = "members"
    PUBLIC = "public"


class ArchiveVisibility(StrEnum):
    """Who may read the list's archive on the web."""

    PUBLIC = "public"  # anyone
    MEMBERS = "members"  # members signed in by mail
    PRIVATE = "private"  # nobody on the web; operators use the CLI


class ArchiveAddresses(StrEnum):
    """How the archive's pages (and downloads, for all but members) show addresses."""

    OBFUSCATE = "obfuscate"  # alice at example.org
    HIDE = "hide"  # the name only
    SHOW = "show"  # as written


class ReplyTo(StrEnum):
    LEAVE = "leave"  # keep the author's Reply-To
    LIST = "list"  # replies go to the list
    EXPLICIT = "explicit"  # replies go to reply_to_address


class Personalize(StrEnum):
    NONE = "none"  # one message per chunk of recipients
    VERP = "verp"  # one transaction per recipient, VERP envelope sender
    FULL = "full"  # VERP plus a personal footer and List-Unsubscribe


class ComplaintAction(StrEnum):
    """What a spam complaint (an ARF feedback report) about a member does."""

    UNSUBSCRIBE = "unsubscribe"
    DISABLE = "disable"  # delivery off, as if the member had asked ("set nomail off" resumes)
    NONE = "none"  # recorded and shown to the owners only


class DmarcMitigation(StrEnum):
    """What a list does to a post whose author's domain DMARC would fail at the members."""

    NONE = "none"
    MUNGE_FROM = "munge_from"  # From: "Alice via List" <list@>, the author in Reply-To/Cc
    WRAP = "wrap"  # the post attached whole (message/rfc822) to a message from the list


class AuthorIn(StrEnum):
    """Where a munged or wrapped post names its author, so that replies can reach them."""

    REPLY_TO = "reply_to"
    CC = "cc"
    BOTH = "both"


class DnsFailure(StrEnum):
    """What an unanswered DMARC lookup (timeout, SERVFAIL) counts as."""

    MITIGATE = "mitigate"  # as if the domain published p=reject
    NONE = "none"  # as if it published no policy


class DigestPeriod(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    NEVER = "never"  # size-triggered only


class Weekday(StrEnum):
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """A header-match rule: when a header's value matches the pattern, take the action."""

    header: str
    pattern: str  # a regular expression, searched case-insensitively
    action: Action


class DigestAttachments(StrEnum):
    """What a MIME digest does with the attachments of the posts it carries."""

    LIST = "list"  # each becomes a line naming it, as in the plain digest
    KEEP = "keep"  # carried whole, as Mailman's MIME digest does


class VolumePeriod(StrEnum):
    YEARLY = "yearly"  # the first digest of a year (in the list's time zone) starts a volume
    MANUAL = "manual"  # only an operator starts one (listserv digests send --new-volume)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a list's digest goes out."""

    size_kb: int = 30
    period: DigestPeriod = DigestPeriod.DAILY
    hour: int = 6  # in the list's time zone
    weekday: Weekday = Weekday.MONDAY  # for weekly digests
    timezone: str = "UTC"  # IANA name


@dataclass(frozen=True, slots=True)
class BounceRules:
    """A list's bounce settings."""

    threshold: float = 5.0  # the score at which delivery is disabled
    warnings: int = 3  # warnings sent to a disabled member before removal
    warning_interval: timedelta = timedelta(days=7)
    decay: timedelta = timedelta(days=7)  # zero: scores never decay
    notify_owners: bool = True


@dataclass(frozen=True, slots=True)
class HoldRules:
    """How a list keeps posts for its moderators."""

    max_days: int = 7  # undecided held posts expire after this
    expiry_action: Action = Action.DISCARD  # what expiry does to them: discard or reject
    notify_author: bool = True  # tell the author why the post waits
    notices_per_hour: int = 10  # single notices to the moderators; past it, hourly summaries
    replies_need_auth: bool = True  # decisions by mail only from an authenticated From


@dataclass(frozen=True, slots=True)
class ListPolicy:
    """What the core needs to know about a list."""

    address: str  # ops@example.com
    aliases: tuple[str, ...] = ()  # former addresses (renames)
    display_name: str = ""
    description: str = ""
    list_id: str = ""
    subject_prefix: str = ""
    footer: str = ""
    posting_policy: PostingPolicy = PostingPolicy.MEMBERS
    nonmember_action: Action = Action.HOLD
    emergency: bool = False
    administrivia: bool = True
    require_explicit_destination: bool = True
    max_message_kb: int = 0
    max_recipients: int = 0
    reply_to: ReplyTo = ReplyTo.LEAVE
    reply_to_address: str = ""
    archive: bool = True
    archive_url: str = ""
    accept_these_nonmembers: tuple[str, ...] = ()  # addresses, or ^regex
    hold_these_nonmembers: tuple[str, ...] = ()
    reject_these_nonmembers: tuple[str, ...] = ()
    discard_these_nonmembers: tuple[str, ...] = ()
    ban_list: tuple[str, ...] = ()
    header_matches: tuple[HeaderMatch, ...] = ()
    strip_headers: tuple[str, ...] = ()
    subscription_policy: SubscriptionPolicy = SubscriptionPolicy.CONFIRM
    unsubscribe_confirm: bool = True
    send_welcome: bool = True
    welcome_message: str = ""  # '' for the standard text
    send_goodbye: bool = True
    goodbye_message: str = ""
    notify_owners_of_subscriptions: bool = False
    roster_visibility: RosterVisibility = RosterVisibility.PRIVATE
    personalize: Personalize = Personalize.NONE
    verp_probe_every: int = 0  # with NONE: about one post in this many goes out with VERP
    dmarc_mitigation: DmarcMitigation = DmarcMitigation.MUNGE_FROM
    dmarc_mitigate_none: bool = False  # also for domains that publish p=none
    dmarc_always: tuple[str, ...] = ()  # domains (and their subdomains) or addresses
    dmarc_author_in: AuthorIn = AuthorIn.REPLY_TO
    dmarc_on_dns_failure: DnsFailure = DnsFailure.MITIGATE
    # Keep the author's DKIM-Signature headers: one the list's changes break counts as
    # none (RFC 6376 section 6.1), one it leaves intact still verifies. Munged posts lose
    # theirs anyway (they signed a From that is gone).
    dkim_keep_incoming: bool = True
    duplicate_window_hours: int = 72  # a Message-ID seen in this window is a duplicate
    flood_max_posts: int = 50  # accepted posts in flood_window_minutes that start emergency
    flood_window_minutes: int = 60
    holds: HoldRules = field(default_factory=HoldRules)
    bounces: BounceRules = field(default_factory=BounceRules)
    complaint_action: ComplaintAction = ComplaintAction.UNSUBSCRIBE
    digest: Schedule = field(default_factory=Schedule)
    digest_volume_period: VolumePeriod = VolumePeriod.YEARLY
    digest_attachments: DigestAttachments = DigestAttachments.LIST
    content: ContentFilter = field(default_factory=ContentFilter)  # applied once, before decoration
    archive_visibility: ArchiveVisibility = ArchiveVisibility.PRIVATE
    archive_addresses: ArchiveAddresses = ArchiveAddresses.OBFUSCATE
    web_url: str = ""  # the site's public base URL (LISTSERV_BASE_URL); '' without a web side
    # With a base URL: every copy carries its member's one-click List-Unsubscribe (RFC 8058).
    one_click_unsubscribe: bool = True

    def sub_address(self, suffix: str) -> str:
        """The list's address with a suffix: sub_address("-request") -> ops-request@…"""
        return sub_address(self.address, suffix)


@dataclass(frozen=True, slots=True)
class SenderStatus:
    """Who the author of a post is to the list."""

    address: str  # match key; '' when the post has no valid author address
    is_member: bool = False
    role: Role | None = None
    moderated: bool = False


class Subscriber(NamedTuple):
    """A member as fan-out sees them (a named tuple: fan-out makes a million of them for
    a million members, at a quarter of a frozen dataclass's cost each)."""

    address: str  # as the member gave it
    key: str  # match key
    role: Role = Role.MEMBER
    delivery_mode: DeliveryMode = DeliveryMode.REGULAR
    delivery_status: DeliveryStatus = DeliveryStatus.ENABLED
    receive_own_posts: bool = True
    skip_if_addressed: bool = False  # no list copy when named in To/Cc
    moderated: bool = False
    # When they left regular delivery: the posts collected before reached them one by one.
    digest_since: datetime | None = None

    def status(self) -> SenderStatus:
        """This member as the author of a post."""
        return SenderStatus(self.key, is_member=True, role=self.role, moderated=self.moderated)
