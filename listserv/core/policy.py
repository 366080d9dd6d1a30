# SPDX-License-Identifier: Apache-2.0
"""The named states of lists and members, shared by the database and the core."""

from enum import StrEnum


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
    """Who may post without moderation (nonmembers are governed by NonmemberAction)."""

    MEMBERS = "members"  # every member posts freely
    MODERATED = "moderated"  # every member post is held
    ANNOUNCE = "announce"  # only moderators and owners post; member posts are held


class NonmemberAction(StrEnum):
    HOLD = "hold"
    REJECT = "reject"
    DISCARD = "discard"
    ACCEPT = "accept"


class SubscriptionPolicy(StrEnum):
    OPEN = "open"
    CONFIRM = "confirm"
    MODERATE = "moderate"
    CONFIRM_THEN_MODERATE = "confirm_then_moderate"


class ReplyTo(StrEnum):
    LEAVE = "leave"  # keep the author's Reply-To
    LIST = "list"  # replies go to the list
    EXPLICIT = "explicit"  # replies go to reply_to_address


class Personalize(StrEnum):
    NONE = "none"  # one message per chunk of recipients
    VERP = "verp"  # one transaction per recipient, VERP envelope sender
    FULL = "full"  # VERP plus a personal footer and List-Unsubscribe


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
