# SPDX-License-Identifier: Apache-2.0
"""A member whose mail bounces: the score, disabling, warnings, removal, and the notices.

Each counted bounce adds one to the member's score, at most once a (UTC)
day, as Mailman counts them; a score that no bounce raised for the list's
decay time starts again from nothing. Past the threshold delivery is
disabled and the member is warned a number of times, an interval apart (the
warnings go out although delivery is off), then removed. What the core
decides here, listserv.handling.bounces carries out.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum

from listserv.core.message import header_block, parse_post
from listserv.core.notices import ATTACH_WHOLE_LIMIT, notice
from listserv.core.policy import BounceRules, ListPolicy

SUMMARY_LINES = 50  # bounce events listed in one summary to the owners
FORWARDED = "X-Listserv-Forwarded"  # marks mail to -bounces passed on to the owners


class FollowUp(StrEnum):
    """What falls due, an interval after the last warning, for a member bounces disabled."""

    WARN = "warn"  # send the next warning
    REMOVE = "remove"  # every warning went out


@dataclass(frozen=True, slots=True)
class Event:
    """A bounce event as the owners' summary lists it."""

    address: str
    kind: str
    status: str
    reason: str
    at: datetime


def current_score(score: float, last_bounce_at: datetime | None, now: datetime,
                  rules: BounceRules) -> float:
    """The score as it stands: nothing when no bounce counted for the decay time."""
    stale = bool(rules.decay) and last_bounce_at is not None \
        and now - last_bounce_at >= rules.decay
    return 0.0 if stale else score


def raised(score: float, last_bounce_at: datetime | None, now: datetime,
           rules: BounceRules) -> float | None:
    """The score after a bounce that counts; None when one counted today already."""
    if last_bounce_at is not None and last_bounce_at.date() == now.date():
        return None
    return current_score(score, last_bounce_at, now, rules) + 1.0


def next_step(warnings_sent: int, warned_at: datetime, now: datetime,
              rules: BounceRules) -> FollowUp | None:
    """What is due now for a member disabled (and first warned) at warned_at, or warned
    last then; None while the interval runs."""
    if now - warned_at < rules.warning_interval:
        return None
    return FollowUp.WARN if warnings_sent < rules.warnings else FollowUp.REMOVE


def warning(policy: ListPolicy, address: str, number: int, rules: BounceRules, *,
            message_id: str, now: datetime) -> EmailMessage:
    """Tell a member their delivery is off because mail to them bounced, and how to resume."""
    left = rules.warnings - number
    end = (f"This is warning {number} of {rules.warnings}. Unless you resume delivery, "
           f"{'another warning follows' if left else 'your address is removed'} in "
           f"{_days(rules.warning_interval)}.")
    body = (f"Mail from the {_name(policy)} list ({policy.address}) to {address} has been "
            "bouncing, so the list has stopped sending to it.\n\n"
            f"If you can read this, your mailbox works again: send \"set nomail off\" to "
            f"{policy.sub_address('-request')}, answer the confirmation it mails you, and "
            f"delivery resumes.\n\n{end}\n")
    return notice(policy, address, f"Delivery of {_name(policy)} to you is off", body,
                  message_id=message_id, now=now)


def removal(policy: ListPolicy, address: str, *, message_id: str,
            now: datetime) -> EmailMessage:
    """Tell a removed member why they were removed and how to join again."""
    body = (f"{address} is no longer a member of the {_name(policy)} list "
            f"({policy.address}): mail to it kept bouncing.\n\n"
            f"To join again, write to {policy.sub_address('-join')}.\n")
    return notice(policy, address, f"You were removed from {_name(policy)}", body,
                  message_id=message_id, now=now)


def owners_notice(policy: ListPolicy, address: str, what: str, detail: str, *,
                  to: Sequence[str], message_id: str, now: datetime) -> EmailMessage:
    """Tell the owners what bounces or a complaint did to a member."""
    subject = f"{policy.subject_prefix} {address}: {what}".strip()
    return notice(policy, ", ".join(to), subject[:200], f"{address}: {what}.\n\n{detail}\n",
                  message_id=message_id, now=now)


def summary(policy: ListPolicy, events: Sequence[Event], *, to: Sequence[str],
            message_id: str, now: datetime) -> EmailMessage:
    """List for the owners the failures that did not count against anyone."""
    lines = [f"{event.at:%Y-%m-%d %H:%M} {event.address} {event.kind} {event.status} "
             f"{event.reason}".rstrip()[:300] for event in events[:SUMMARY_LINES]]
    if len(events) > SUMMARY_LINES:
        lines.append(f"… and {len(events) - SUMMARY_LINES} more.")
    body = (f"Mail from {policy.address} failed for these addresses in ways that do not "
            "count against them: refused for policy, spam or authentication (DMARC, "
            "SPF), failed for the time being, for reasons the reports do not give, or "
            "never sent because the smarthost cannot take the address (SMTPUTF8).\n\n"
            + "\n".join(lines) + "\n")
    return notice(policy, ", ".join(to), f"{policy.subject_prefix} Delivery problems".strip(),
                  body, message_id=message_id, now=now)


def unrecognised(policy: ListPolicy, raw: bytes, *, to: Sequence[str], message_id: str,
                 now: datetime) -> EmailMessage:
    """Pass mail to -bounces that is no report listserv can read on to the owners."""
    body = (f"This came to {policy.sub_address('-bounces')}, where the reports of failed "
            "deliveries arrive, and listserv cannot read it as one. It is attached.\n")
    message = notice(policy, ", ".join(to),
                     f"{policy.subject_prefix} Unrecognised bounce".strip(), body,
                     message_id=message_id, now=now)
    message[FORWARDED] = "unrecognised-bounce"
    if len(raw) <= ATTACH_WHOLE_LIMIT:
        message.add_attachment(parse_post(raw).message, disposition="inline")
    else:  # as the rejection notices do: a huge message by its headers only
        headers = header_block(raw).decode("ascii", "replace")
        message.add_attachment(headers, subtype="rfc822-headers", disposition="inline")
    return message


def _name(policy: ListPolicy) -> str:
    return policy.display_name or policy.address


def _days(interval: timedelta) -> str:
    days = max(round(interval / timedelta(days=1)), 0)
    return "1 day" if days == 1 else f"{days} days"
