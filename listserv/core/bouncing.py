# SPDX-License-Identifier: Apache-2.0
"""A member whose mail bounces: what counts, the score, probes, disabling, warnings, removal,
and the notices.

Only what proves that listserv mailed the member counts: a bounce to a VERP
address listserv signed (core.verp), a probe's bounce, the smarthost's own
refusal. A report to the plain bounce address proves nothing (anyone can send
one, naming anyone): the members it says are gone are sent a probe each, as
GNU Mailman's VERP probes are, at most one a day and PROBES_PER_REPORT for
one report; the report itself is listed for the owners. Each counted bounce
adds one to the member's score, at most once a (UTC) day, as Mailman counts
them; a score that no bounce raised for the list's decay time starts again
from nothing. Past the threshold delivery is disabled and the member is
warned a number of times, an interval apart (the warnings go out although
delivery is off), then removed. What the core decides here,
listserv.handling.bounces carries out.
"""

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum

from listserv.core.addresses import normalise
from listserv.core.bounces import Failure, Report
from listserv.core.message import header_block, parse_post
from listserv.core.notices import ATTACH_WHOLE_LIMIT, list_name, notice
from listserv.core.policy import BounceRules, ListPolicy
from listserv.errors import InvalidAddress

SUMMARY_LINES = 50  # bounce events listed in each part of one summary to the owners
PROBES_PER_REPORT = 20  # probes one report to the plain bounce address may set off
FORWARDED = "X-Listserv-Forwarded"  # marks mail to -bounces passed on to the owners


class Source(StrEnum):
    """How a bounce event reached listserv (bounce_event.source)."""

    VERP = "verp"  # to a VERP address listserv signed: counts
    PROBE = "probe"  # to the signed address of a probe listserv sent: counts
    SMTP = "smtp"  # the smarthost refused the recipient: counts
    PLAIN = "dsn"  # to the plain bounce address: proves nothing, sets off probes
    UNVERIFIED = "unverified"  # to a VERP address whose tag does not verify: as PLAIN
    COMPLAINT = "arf"  # a feedback report (RFC 5965)


HEARSAY = (Source.PLAIN, Source.UNVERIFIED)
COMPLAINT_KIND = str(Report.COMPLAINT)  # bounce_event.kind of a feedback report


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
    source: str  # a Source


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


def whom_to_probe(failures: Iterable[Failure], members: Collection[str],
                  probed: Collection[str] = (), limit: int = PROBES_PER_REPORT) -> list[str]:
    """The members (match keys) a report without proof says are gone, each once and in the
    report's order: those not probed lately, at most limit."""
    chosen: list[str] = []
    for failure in failures:
        key = _member_key(failure, members) if failure.counts else None
        if key is not None and key not in probed and key not in chosen:
            chosen.append(key)
            if len(chosen) == limit:
                break
    return chosen


def probe(policy: ListPolicy, address: str, *, message_id: str, now: datetime) -> EmailMessage:
    """The probe: a member whom a report named is told it, and that nothing needs doing."""
    body = (f"A mail system reported that mail from the {list_name(policy)} list "
            f"({policy.address}) to {address} could not be delivered.\n\n"
            "If you can read this, mail reaches you and nothing needs doing: this message "
            "only checks that report.\n")
    return notice(policy, address, f"Delivery check from {list_name(policy)}", body,
                  message_id=message_id, now=now)


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
    body = (f"Mail from the {list_name(policy)} list ({policy.address}) to {address} has been "
            "bouncing, so the list has stopped sending to it.\n\n"
            f"If you can read this, your mailbox works again: send \"set nomail off\" to "
            f"{policy.sub_address('-request')}, answer the confirmation it mails you, and "
            f"delivery resumes.\n\n{end}\n")
    return notice(policy, address, f"Delivery of {list_name(policy)} to you is off", body,
                  message_id=message_id, now=now)


def removal(policy: ListPolicy, address: str, *, message_id: str,
            now: datetime) -> EmailMessage:
    """Tell a removed member why they were removed and how to join again."""
    body = (f"{address} is no longer a member of the {list_name(policy)} list "
            f"({policy.address}): mail to it kept bouncing.\n\n"
            f"To join again, write to {policy.sub_address('-join')}.\n")
    return notice(policy, address, f"You were removed from {list_name(policy)}", body,
                  message_id=message_id, now=now)


def owners_notice(policy: ListPolicy, address: str, what: str, detail: str, *,
                  to: Sequence[str], message_id: str, now: datetime) -> EmailMessage:
    """Tell the owners what bounces or a complaint did to a member."""
    subject = f"{policy.subject_prefix} {address}: {what}".strip()
    return notice(policy, ", ".join(to), subject[:200], f"{address}: {what}.\n\n{detail}\n",
                  message_id=message_id, now=now)


def summary(policy: ListPolicy, events: Sequence[Event], probes: int, *,
            to: Sequence[str], message_id: str, now: datetime) -> EmailMessage:
    """List for the owners what counted against nobody: reports without proof (and the
    probes they set off), and failures of kinds that never count."""
    complaints = [event for event in events
                  if event.source in HEARSAY and event.kind == COMPLAINT_KIND]
    hearsay = [event for event in events
               if event.source in HEARSAY and event.kind != COMPLAINT_KIND]
    others = [event for event in events if event.source not in HEARSAY]
    parts = []
    if complaints:
        parts.append(
            "Complaints (feedback reports) that do not prove listserv mailed the member they "
            "name changed nothing: a report counts only when it comes to a member's signed "
            "VERP address or returns the member's copy with its signed Return-Path or "
            f"one-click unsubscribe link.\n\n{_lines(complaints)}")
    if hearsay or probes:
        parts.append(
            f"Reports sent to {policy.sub_address('-bounces')} itself, or to a VERP address "
            "listserv did not sign, prove nothing (anyone can send one) and count against "
            "nobody. Each member such a report says is gone was sent a probe instead (at "
            f"most one a day, {PROBES_PER_REPORT} for one report): only the probe's own "
            f"bounce counts. Probes sent: {probes}.\n\n{_lines(hearsay)}")
    if others:
        parts.append("Failures that do not count: refused for policy, spam or authentication "
                     "(DMARC, SPF), failed for the time being, for reasons the reports do not "
                     "give, or never sent because the smarthost cannot take the address "
                     f"(SMTPUTF8).\n\n{_lines(others)}")
    body = (f"What happened to mail from {policy.address} that counted against nobody.\n\n"
            + "\n".join(parts))
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


def _lines(events: Sequence[Event]) -> str:
    lines = [f"{event.at:%Y-%m-%d %H:%M} {event.address or '-'} {event.kind} {event.status} "
             f"{event.reason}".rstrip()[:300] for event in events[:SUMMARY_LINES]]
    if len(events) > SUMMARY_LINES:
        lines.append(f"… and {len(events) - SUMMARY_LINES} more.")
    return "".join(f"{line}\n" for line in lines)


def named_keys(failures: Iterable[Failure]) -> set[str]:
    """The match keys the failures that count name: the members whom_to_probe may choose
    are among these (so the shell looks up only them, not the whole roster)."""
    return {key for failure in failures if failure.counts for key in _keys(failure)}


def _member_key(failure: Failure, members: Collection[str]) -> str | None:
    """The member a failure names: its address, else where delivery failed in the end."""
    return next((key for key in _keys(failure) if key in members), None)


def _keys(failure: Failure) -> Iterator[str]:
    for address in (failure.address, failure.final_recipient):
        try:
            yield normalise(address)
        except InvalidAddress:
            continue


def _days(interval: timedelta) -> str:
    days = max(round(interval / timedelta(days=1)), 0)
    return "1 day" if days == 1 else f"{days} days"
