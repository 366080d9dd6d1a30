# SPDX-License-Identifier: Apache-2.0
"""What mail to a list's -bounces address is: failed deliveries, complaints, auto-replies.

A delivery status notification (RFC 3464) is read first: Original-Recipient,
Final-Recipient, Action, Status and Diagnostic-Code. A bounce in no standard
form goes to flufl.bounce's detectors, the set GNU Mailman relies on, and
last to a scan for addresses on lines of their own that say why delivery
failed. Only a failure of the mailbox itself counts against a member (5.1.x,
5.2.x, 5.4.4 and the like); policy, spam and authentication refusals (5.7.x,
whatever the text says) and temporary failures are reported, never counted.
An ARF feedback report (RFC 5965) is a complaint. core.reports reads the
report itself and never the message it returns, so a bounce of a bounce
names the address that failed. Nothing here raises, whatever the message.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.message import Message
from enum import StrEnum

from flufl.bounce import all_failures

from listserv.core import reports
from listserv.core.message import header_addresses, header_text, header_texts
from listserv.core.reports import address_in, key, reason_near, status_in
from listserv.core.urls import unsubscribe_tokens


class Kind(StrEnum):
    """Why delivery to an address failed, as far as the report tells."""

    MAILBOX = "mailbox"  # the mailbox or its domain is gone: the only kind that counts
    POLICY = "policy"  # refused for policy, spam, authentication, reputation or content
    TEMPORARY = "temporary"  # delayed, mailbox full, timed out
    UNKNOWN = "unknown"  # failed, for a reason the report does not make clear


class Report(StrEnum):
    """What a message to -bounces is."""

    BOUNCE = "bounce"  # reports failed (or delayed) deliveries
    COMPLAINT = "complaint"  # a recipient marked list mail as spam, or asked to opt out
    NOTICE = "notice"  # a report that asks nothing: delivered, or a DMARC failure report
    AUTO_REPLY = "auto-reply"  # a vacation notice or another automatic answer (RFC 3834)
    UNRECOGNISED = "unrecognised"  # none of these; a person should look at it


@dataclass(frozen=True, slots=True)
class Failure:
    """One address whose delivery failed."""

    address: str  # the address the mail was sent to (Original-Recipient, else Final-Recipient)
    status: str  # the enhanced status code (RFC 3463), '' when none is given
    kind: Kind
    reason: str = ""  # the diagnostic, on one line
    final_recipient: str = ""  # where delivery failed in the end, when another address

    @property
    def counts(self) -> bool:
        """Whether this failure raises the member's bounce score."""
        return self.kind is Kind.MAILBOX


@dataclass(frozen=True, slots=True)
class Classification:
    """What a message to -bounces is, and the addresses it is about."""

    report: Report
    failures: tuple[Failure, ...] = ()
    feedback_type: str = ""  # of a feedback report: abuse, opt-out, auth-failure…
    complained: tuple[str, ...] = ()  # the addresses a complaint is about
    # What the copy a complaint returns carries that only listserv can have made, and that
    # proves whom it went to: the extensions of its Return-Path (a signed VERP address)
    # and the tokens of its one-click unsubscribe URLs.
    returned_verp: tuple[str, ...] = ()
    returned_tokens: tuple[str, ...] = ()


# Feedback types (RFC 5965, 6591) by which a recipient says they want no more of this mail;
# auth-failure (a DMARC failure report) and not-spam are none.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", "opt-out"})
REASON_LENGTH = 500

_POLICY_STATUS = re.compile(r"(?<![\d.])5\.7\.\d{1,3}(?![\d.])")
# RFC 3463 "subject.detail" (or "subject") -> kind. What is not here (x.y.0 "other",
# 5.2.1 "mailbox disabled", 5.5.x protocol errors…) the diagnostic text decides.
_STATUS_KINDS = {
    "1.1": Kind.MAILBOX, "1.2": Kind.MAILBOX, "1.3": Kind.MAILBOX, "1.4": Kind.MAILBOX,
    "1.6": Kind.MAILBOX, "1.10": Kind.MAILBOX,  # moved; RFC 7505 null MX
    "1.7": Kind.POLICY, "1.8": Kind.POLICY,  # the sender's address was refused
    "2.2": Kind.TEMPORARY, "2.3": Kind.POLICY, "3.4": Kind.POLICY,  # full; too big
    "4.4": Kind.MAILBOX, "4.7": Kind.TEMPORARY,  # no route to the domain; expired
    "6": Kind.POLICY, "7": Kind.POLICY,  # content; security and policy
}
_MAILBOX_TEXT = re.compile(
    r"user unknown|unknown (?:user|recipient|address|mailbox|local.?part)|recipient unknown|"
    r"no such (?:user|mailbox|recipient|address|account|person|local user|domain)|"
    r"(?:does not|doesn'?t|not) exist|invalid (?:recipient|mailbox|address|user|final)|"
    r"not listed in|no smtp service|mailbox (?:unavailable|not found|unknown)|"
    r"(?:user|recipient) not found|address (?:not found|unknown)|unrouteable address|"
    r"not a valid (?:user|mailbox|recipient)|recipient address rejected(?:\.|: access denied)|"
    r"recipient name is not recognized|doesn'?t have an? [\w.-]+ account|"
    r"host or domain name not found|domain not found|host (?:[\w.-]+ )?(?:not found|unknown)|"
    r"unknown host|domain is not reachable|no (?:mx|mail exchanger)|has moved|"
    r"no longer (?:valid|in use)",
    re.IGNORECASE)
_POLICY_TEXT = re.compile(
    r"spam|block ?list|black ?list|blocked|(?<!not )listed (?:in|on|at|by)|\brbl\b|"
    r"reputation|dmarc|\bspf\b|dkim|policy|authenticat|not authori[sz]ed|relaying|"
    r"relay (?:access )?denied|not permitted to relay|virus|reverse dns|\bptr\b|rate limit|"
    r"too many|content rejected|message content|sender (?:address )?rejected|sender verif|"
    r"after mail from|message (?:size|too (?:big|large))|exceeds (?:the )?(?:maximum|size)|"
    r"permission",
    re.IGNORECASE)
_TEMPORARY_TEXT = re.compile(
    r"mailbox (?:is )?full|quota|insufficient (?:storage|disk|space)|storage (?:exceeded|full)|"
    r"retry time(?:out)? (?:exceeded|expired)|delivery time expired|could not be delivered "
    r"within|\bexpired\b|timed? ?out|temporar|name server reply|server failure|"
    r"not found, try again",
    re.IGNORECASE)
# Words on a line that say delivery failed, though not why.
_FAILURE_TEXT = re.compile(
    r"(?<!\d)[45]\d\d(?:[ -]|$)|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}|fail|undeliver|unable to "
    r"deliver|could not (?:be )?deliver|cannot be delivered|rejected|refused|denied|error|"
    r"giving up", re.IGNORECASE)
_SEVERITY = (Kind.MAILBOX, Kind.POLICY, Kind.UNKNOWN, Kind.TEMPORARY)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:out of (?:the )?office|auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|"
    r"vacation|away|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[aá]tica)\b",
    re.IGNORECASE)
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Vacation")
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery|<>", re.IGNORECASE)


def classify(message: Message, verp_address: str | None = None) -> Classification:
    """Read a message sent to -bounces; verp_address is the member its VERP address names."""
    try:
        result = _classify(message)
    except Exception:  # the email package raises on some broken mail
        result = Classification(Report.UNRECOGNISED)
    return _for_verp(result, verp_address) if verp_address else result


def kind_of(status: str, diagnostic: str) -> Kind:
    """The kind of a failure, from its status code and the diagnostic text.

    Servers often give a 5.1.x code to a refusal for spam or reputation, so
    what the text says of policy weighs more than the code; never the other
    way round for 5.7.x, which is a policy refusal whatever the text says.
    """
    if status.startswith("4"):
        return Kind.TEMPORARY
    if status.startswith("5.7.") or _POLICY_STATUS.search(diagnostic) \
            or _POLICY_TEXT.search(diagnostic):
        return Kind.POLICY
    if _TEMPORARY_TEXT.search(diagnostic):
        return Kind.TEMPORARY
    subject, _, detail = status.partition(".")[2].partition(".")
    kind = _STATUS_KINDS.get(f"{subject}.{detail}") or _STATUS_KINDS.get(subject)
    if kind is not None:
        return kind
    return Kind.MAILBOX if _MAILBOX_TEXT.search(diagnostic) else Kind.UNKNOWN


def _explains(text: str) -> bool:
    return kind_of(status_in(text), text) is not Kind.UNKNOWN


def _classify(message: Message) -> Classification:
    feedback = reports.feedback_fields(message)
    if feedback is not None:
        return _complaint(message, feedback)
    text = reports.report_text(message)
    blocks = reports.status_blocks(message, text)
    failures = _distinct(_dsn_failure(block, text) for block in blocks)
    if failures:
        return Classification(Report.BOUNCE, failures)
    if blocks and all(_delivered(block) for block in blocks):
        return Classification(Report.NOTICE)
    if not blocks and _is_auto_reply(message):
        return Classification(Report.AUTO_REPLY)
    failures = _detected_failures(message, text)
    return Classification(Report.BOUNCE, failures) if failures else \
        Classification(Report.UNRECOGNISED)


def _for_verp(result: Classification, member: str) -> Classification:
    """A VERP address names the one member the mail went to: what failed is theirs.

    The report may name another address (a forwarding alias, a rewritten
    recipient); it is still the member's mail that failed.
    """
    if result.feedback_type:
        return replace(result, complained=(member,))
    if result.report is Report.UNRECOGNISED:
        return replace(result, failures=(Failure(member, "", Kind.UNKNOWN),))
    if not result.failures:
        return result
    theirs = [f for f in result.failures if key(f.address) == key(member)]
    chosen = theirs[0] if theirs else min(result.failures, key=lambda f: _SEVERITY.index(f.kind))
    final = chosen.final_recipient or ("" if theirs else chosen.address)
    return replace(result, failures=(replace(chosen, address=member, final_recipient=final),))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:REASON_LENGTH]


def _distinct(failures: Iterable[Failure | None]) -> tuple[Failure, ...]:
    found: dict[str, Failure] = {}
    for failure in failures:
        if failure is not None:
            found.setdefault(key(failure.address), failure)
    return tuple(found.values())


def _delivered(block: Message) -> bool:
    return header_text(block, "Action").lower().startswith(("delivered", "relayed", "expanded"))


def _dsn_failure(block: Message, text: str) -> Failure | None:
    """The failure one recipient's fields report; None when it was delivered.

    The code in the remote server's own reply (Diagnostic-Code) says more than
    the reporting MTA's Status where they differ; a recipient whose fields do
    not say why is explained by what the report's text says about it.
    """
    final = address_in(header_text(block, "Final-Recipient"))
    address = address_in(header_text(block, "Original-Recipient")) or final
    if _delivered(block) or not address:
        return None
    diagnostic = header_text(block, "Diagnostic-Code")
    status = status_in(diagnostic) or status_in(header_text(block, "Status"))
    kind = kind_of(status, diagnostic)
    if kind is Kind.UNKNOWN and (near := reason_near(text, final or address, _explains)):
        kind, diagnostic = kind_of(status, near), diagnostic or near
    if header_text(block, "Action").lower().startswith("delayed"):
        kind = Kind.TEMPORARY
    return Failure(address, status, kind, _one_line(diagnostic),
                   final if final and key(final) != key(address) else "")


def _complaint(message: Message, fields: Message) -> Classification:
    """A feedback report: about the Original-Rcpt-To addresses, else the returned To."""
    feedback_type = header_text(fields, "Feedback-Type").lower() or "abuse"
    named = header_texts(fields, "Original-Rcpt-To")
    if not any(address_in(field) for field in named):
        named = reports.returned_recipients(message)
    complained = tuple(dict.fromkeys(a for field in named if (a := address_in(field))))
    report = Report.COMPLAINT if feedback_type in COMPLAINT_TYPES else Report.NOTICE
    returned = reports.returned_headers(message)
    if returned is None:
        return Classification(report, feedback_type=feedback_type, complained=complained)
    verp = (address.partition("@")[0].partition("+")[2]
            for _, address in header_addresses(returned, "Return-Path"))
    tokens = (token for value in header_texts(returned, "List-Unsubscribe")
              for token in unsubscribe_tokens(value))
    return Classification(report, feedback_type=feedback_type, complained=complained,
                          returned_verp=tuple(dict.fromkeys(e for e in verp if e)),
                          returned_tokens=tuple(dict.fromkeys(tokens)))


def _is_auto_reply(message: Message) -> bool:
    """Whether this is an automatic answer (RFC 3834) rather than a mail server's report."""
    if _DAEMON.search(header_text(message, "From")):
        return False
    if any(header_text(message, name) for name in _AUTO_REPLY_HEADERS):
        return True
    if header_text(message, "Precedence").lower() == "auto_reply":
        return True
    if _AUTO_REPLY_SUBJECT.search(header_text(message, "Subject")):
        return True
    return header_text(message, "Auto-Submitted").lower().startswith("auto-replied")


def _detected_failures(message: Message, text: str) -> tuple[Failure, ...]:
    """Failures in a bounce in no standard form: flufl.bounce's detectors, else a scan
    for addresses on lines of their own near words that say delivery failed."""
    try:
        temporary, permanent = all_failures(reports.without_returned(message))
    except Exception:  # a detector tripped over this message; the scan may still read it
        temporary = permanent = frozenset()
    leave_out = reports.not_recipients(message, text)
    detected = {address: raw in temporary for raw in permanent | temporary
                if (address := address_in(raw.decode("ascii", "replace")))
                and key(address) not in leave_out}
    found = detected or dict.fromkeys(
        (address for address in reports.lone_addresses(text, leave_out)
         if _says_failed(reason_near(text, address, _explains), address)), False)
    failures = []
    for address, is_temporary in found.items():
        reason = reason_near(text, address, _explains)
        if detected and len(found) == 1 and not _explains(reason):
            reason = text  # the one address the detectors found: the report is about it
        status = status_in(reason)
        kind = Kind.TEMPORARY if is_temporary else kind_of(status, reason)
        failures.append(Failure(address, status, kind, _one_line(reason)))
    return _distinct(failures)


def _says_failed(reason: str, address: str) -> bool:
    return _explains(reason) or bool(_FAILURE_TEXT.search(reason.replace(address, "")))


def refusal(address: str, code: int, text: str) -> Failure:
    """A recipient that delivery through the smarthost failed for good, as a failure.

    A permanent refusal at RCPT (5xx) names the recipient for certain; a
    temporary one (4xx) ends up here only once retrying gave up, and such
    repeated failures count too. Neither counts when it is a policy refusal.
    """
    status = status_in(text) or (f"{code // 100}.0.0" if 400 <= code < 600 else "")
    if status[2:4] == "7." or _POLICY_TEXT.search(text):
        kind = Kind.POLICY
    elif code >= 500:
        kind = kind_of(status, text)
        kind = Kind.MAILBOX if kind is Kind.UNKNOWN else kind
    else:
        kind = Kind.MAILBOX
    return Failure(address, status, kind, _one_line(f"{code} {text}"))
