# SPDX-License-Identifier: Apache-2.0
"""Joining and leaving a list by mail: what a request leads to, and the mail it takes.

A request is carried out at once only where nobody but the address itself
can have made it and the list allows that; otherwise the address confirms
with a single-use token mailed to it alone, and where the list says so its
moderators approve. The texts people get about their membership are here;
the shell (listserv.handling.subscriptions) only carries out what is decided here.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from enum import StrEnum

from listserv.core.addresses import Mailbox, parse_address
from listserv.core.message import Post, header_addresses
from listserv.core.moderation import reply_address, thread_root
from listserv.core.notices import notice
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy, SubscriptionPolicy
from listserv.core.replies import answer_subject
from listserv.errors import InvalidAddress


class Request(StrEnum):
    """What a pending confirmation does once its token comes back."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    DELIVERY = "delivery"  # change how a member receives the list (set delivery, set nomail)
    INVITE = "invite"  # an owner's invitation: accepting it subscribes
    APPROVE = "approve_subscription"  # the moderators decide on a subscription


class Step(StrEnum):
    """What happens next to a request."""

    NOW = "now"  # carry it out
    CONFIRM = "confirm"  # the address confirms first
    APPROVE = "approve"  # the moderators decide


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a request: the From address (else the envelope sender), and the envelope;
    or, for a request not made by mail, where it came from."""

    mailbox: Mailbox | None  # None when neither is a valid address
    name: str
    envelope: str  # match key of the envelope sender; '' for <> or an invalid one
    via: str = ""  # a request made elsewhere: "a web form (from 192.0.2.7)"

    @property
    def described(self) -> str:
        """Who made the request, as the address asked to confirm it is told."""
        return self.via or (str(self.mailbox) if self.mailbox else self.envelope)

    @property
    def answered_directly(self) -> bool:
        """Whether answers (which go to the envelope sender) reach the From address itself."""
        return self.mailbox is not None and self.mailbox.key == self.envelope

    def is_self(self, key: str) -> bool:
        """Whether the request is about the sender's own address.

        Both headers can be forged, but then whatever is sent goes to the
        address itself, never to the forger.
        """
        return self.answered_directly and self.mailbox is not None and self.mailbox.key == key


def sender_of(post: Post) -> Sender:
    """The sender of a request, never raising on a bad From or envelope."""
    envelope = _valid(post.mail_from)
    for name, address in header_addresses(post.message, "From"):
        if (mailbox := _valid(address)) is not None:
            return Sender(mailbox, _clean(name)[:200], envelope.key if envelope else "")
    return Sender(envelope, "", envelope.key if envelope else "")


def web_sender(via: str) -> Sender:
    """The sender of a request made on a web form: it proves no address, so whatever it
    asks about an address, that address confirms by mail first."""
    return Sender(None, "", "", via=via)


def _valid(address: str) -> Mailbox | None:
    try:
        return parse_address(address)
    except InvalidAddress:
        return None


def _clean(text: str) -> str:
    """Text fit for a header or the database: one line, undecodable bytes as "?"."""
    return " ".join(text.encode("utf-8", "replace").decode("utf-8").split())


def joining(policy: SubscriptionPolicy, by_self: bool) -> Step:
    """What a subscription request leads to; another address always confirms itself."""
    if not by_self or policy in (SubscriptionPolicy.CONFIRM,
                                 SubscriptionPolicy.CONFIRM_THEN_MODERATE):
        return Step.CONFIRM
    return Step.NOW if policy is SubscriptionPolicy.OPEN else Step.APPROVE


def after_confirmation(policy: SubscriptionPolicy, request: Request) -> Step:
    """What a confirmed request leads to: the moderators still approve where the list
    wants them to, but not an invitation (its owners sent it)."""
    moderated = policy in (SubscriptionPolicy.MODERATE, SubscriptionPolicy.CONFIRM_THEN_MODERATE)
    return Step.APPROVE if request is Request.SUBSCRIBE and moderated else Step.NOW


def leaving(confirm: bool, by_self: bool) -> Step:
    """What an unsubscription (or stopping mail) leads to: a forged one must remove nobody."""
    return Step.NOW if by_self and not confirm else Step.CONFIRM


_DECLINES = {"no", "cancel", "decline", "refuse"}


def declines(lines: Sequence[str]) -> bool:
    """Whether a reply to a confirmation request says no (its first line is just "no")."""
    return bool(lines) and lines[0].strip(" .!").lower() in _DECLINES


_DELIVERY = {
    DeliveryMode.REGULAR: "each post as it is sent",
    DeliveryMode.DIGEST_MIME: "digests (MIME)",
    DeliveryMode.DIGEST_PLAIN: "plain-text digests",
    DeliveryMode.NOMAIL: "no mail",
}


def delivery_text(mode: DeliveryMode) -> str:
    return _DELIVERY[mode]


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a member receives the list: the mode they chose, and whether it is switched on."""

    mode: DeliveryMode
    status: DeliveryStatus

    def describe(self) -> str:
        if self.status is DeliveryStatus.ENABLED:
            return delivery_text(self.mode)
        return f"{delivery_text(self.mode)}, but delivery is off: {_OFF[self.status]}"


_OFF = {
    DeliveryStatus.DISABLED_BY_USER: 'you stopped it ("set nomail off" resumes it)',
    DeliveryStatus.DISABLED_BY_BOUNCE: 'mail to you bounced ("set nomail off" resumes it)',
    DeliveryStatus.DISABLED_BY_MODERATOR: "the moderators stopped it",
}


def changed_delivery(current: Delivery, *, mode: DeliveryMode | None,
                     nomail: bool | None) -> Delivery | None:
    """A member's delivery after "set delivery MODE" or "set nomail on|off".

    None when the member may not change it: delivery the moderators
    stopped stays stopped until they resume it.
    """
    stopped_by_moderator = current.status is DeliveryStatus.DISABLED_BY_MODERATOR
    if nomail is False:
        if stopped_by_moderator:
            return None
        resumed = DeliveryMode.REGULAR if current.mode is DeliveryMode.NOMAIL else current.mode
        return Delivery(resumed, DeliveryStatus.ENABLED)
    if nomail is True:
        return current if stopped_by_moderator else Delivery(
            current.mode, DeliveryStatus.DISABLED_BY_USER)
    return Delivery(mode or current.mode, current.status)


def _name(policy: ListPolicy) -> str:
    return policy.display_name or policy.address.partition("@")[0]


def _what(policy: ListPolicy, request: Request, address: str, delivery: DeliveryMode | None,
          nomail: bool | None) -> str:
    name = f"the {_name(policy)} list ({policy.address})"
    if request is Request.SUBSCRIBE:
        return (f"subscribe {address} to {name}, receiving "
                f"{_DELIVERY[delivery or DeliveryMode.REGULAR]}")
    if request is Request.UNSUBSCRIBE:
        return f"unsubscribe {address} from {name}"
    if nomail is True or delivery is DeliveryMode.NOMAIL:
        return f"stop mail from {name} to {address}, which stays a member"
    if nomail is False:
        return f"resume mail from {name} to {address}"
    return f"have {address} receive {_DELIVERY[delivery or DeliveryMode.REGULAR]} from {name}"


def _from_confirm(message: EmailMessage, policy: ListPolicy, token: str, label: str) -> None:
    """Answers go to ops-confirm+TOKEN@, whatever the client replies to."""
    address = reply_address(policy, token)
    del message["From"]
    message["From"] = formataddr((f"{_name(policy)} {label}", address))
    message["Reply-To"] = address


def _how_to_confirm(policy: ListPolicy, token: str, expires_at: datetime) -> str:
    return ("To confirm, reply to this message; an empty reply will do. Or send a\n"
            f"message to {policy.sub_address('-request')} with this line:\n\n"
            f"    confirm {token}\n\n"
            "If you did not ask for this, ignore this message: nothing happens\n"
            f"unless you confirm. The request expires on {expires_at:%Y-%m-%d %H:%M} UTC.\n")


def confirmation(policy: ListPolicy, request: Request, address: str, token: str, *,
                 delivery: DeliveryMode | None, requested_by: str, expires_at: datetime,
                 message_id: str, now: datetime, nomail: bool | None = None) -> EmailMessage:
    """Ask the address itself to confirm a request about it; the subject is a command too.

    delivery is the mode asked for (subscribe, set delivery), nomail the set
    nomail on|off asked for.
    """
    moderated = after_confirmation(policy.subscription_policy, request) is Step.APPROVE
    what = _what(policy, request, address, delivery, nomail)
    body = (f"Someone, perhaps you, asked to {what}.\n"
            + (f"The request came from {requested_by}.\n" if requested_by != address else "")
            + ("After you confirm, the list's moderators decide on it.\n" if moderated else "")
            + "\n" + _how_to_confirm(policy, token, expires_at))
    message = notice(policy, address, f"confirm {token}", body, message_id=message_id, now=now)
    _from_confirm(message, policy, token, "confirmation")
    return message


def invitation(policy: ListPolicy, address: str, token: str, *, expires_at: datetime,
               message_id: str, now: datetime) -> EmailMessage:
    """Invite an address on behalf of the list's owners; accepting it subscribes."""
    about = f"\n{policy.description.strip()}\n" if policy.description.strip() else ""
    body = (f"The owners of the {_name(policy)} list ({policy.address}) invite {address}\n"
            f"to join it.\n{about}\nTo accept, reply to this message; an empty reply will do. "
            f"Or send a\nmessage to {policy.sub_address('-request')} with this line:\n\n"
            f"    confirm {token}\n\n"
            "If you do not want to join, ignore this message. The invitation\n"
            f"expires on {expires_at:%Y-%m-%d %H:%M} UTC.\n")
    message = notice(policy, address, f"Invitation to join {_name(policy)}", body,
                     message_id=message_id, now=now)
    _from_confirm(message, policy, token, "invitation")
    return message


def already_member(policy: ListPolicy, address: str, *, message_id: str,
                   now: datetime) -> EmailMessage:
    """Tell a member (and only them) that someone asked to subscribe them again."""
    body = (f"Someone, perhaps you, asked to subscribe {address} to the {_name(policy)}\n"
            f"list ({policy.address}). It is a member already, so nothing changes.\n\n"
            + _how_to_manage(policy))
    return notice(policy, address, f"You are a member of {_name(policy)}", body,
                  message_id=message_id, now=now)


def _how_to_manage(policy: ListPolicy) -> str:
    request = policy.sub_address("-request")
    return (f"To post, write to {policy.address}.\n"
            f'To change how you receive the list, send "set delivery digest-mime" (or\n'
            f"regular, digest-plain, nomail) to {request}.\n"
            f"To leave, write to {policy.sub_address('-leave')}.\n"
            f'For help, send "help" to {request}.\n')


def welcome(policy: ListPolicy, address: str, delivery: DeliveryMode, *, message_id: str,
            now: datetime) -> EmailMessage:
    """Welcome a new member: the list's own text (else its description), and how things work."""
    intro = policy.welcome_message.strip() or "\n\n".join(
        part for part in (f"Welcome to the {_name(policy)} list!",
                          policy.description.strip()) if part)
    body = (f"{intro}\n\nYou are subscribed as {address} and receive "
            f"{_DELIVERY[delivery]}.\n\n{_how_to_manage(policy)}")
    return notice(policy, address, f"Welcome to {_name(policy)}", body,
                  message_id=message_id, now=now)


def goodbye(policy: ListPolicy, address: str, *, message_id: str,
            now: datetime) -> EmailMessage:
    """See a member off: the list's own text, or the standard one."""
    text = policy.goodbye_message.strip() or (
        f"{address} is no longer a member of the {_name(policy)} list ({policy.address}).\n"
        "Goodbye, and thank you.")
    body = f"{text}\n\nTo join again, write to {policy.sub_address('-join')}.\n"
    return notice(policy, address, f"You have left {_name(policy)}", body,
                  message_id=message_id, now=now)


def owner_notice(policy: ListPolicy, address: str, joined: bool, how: str, *,
                 to: Sequence[str], message_id: str, now: datetime) -> EmailMessage:
    """Tell the owners someone joined or left."""
    verb = "joined" if joined else "left"
    body = f"{address} {verb} {policy.address} ({how}).\n"
    return notice(policy, ", ".join(to), f"{policy.subject_prefix} {address} {verb}".strip(),
                  body, message_id=message_id, now=now)


def approval_request(policy: ListPolicy, address: str, token: str, *, how: str,
                     to: Sequence[str], expires_at: datetime, message_id: str,
                     now: datetime) -> EmailMessage:
    """Ask the moderators to decide on a subscription, by replying as to a held post."""
    body = (f"{address} asks to join {policy.address} ({how}).\n\n"
            "Reply to this message to decide. The first line of your reply is the decision:\n\n"
            "  approve            subscribe the address (an empty reply approves too)\n"
            "  reject REASON      refuse it; the address is told your reason\n"
            "  discard            drop the request without a word\n"
            "  defer              decide later\n\n"
            f"Undecided, the request expires on {expires_at:%Y-%m-%d %H:%M} UTC.\n")
    message = notice(policy, ", ".join(to), f"{policy.subject_prefix} Subscription request: "
                     f"{address}".strip()[:200], body, message_id=message_id, now=now)
    _from_confirm(message, policy, token, "moderation")
    message["In-Reply-To"] = thread_root(policy)
    message["References"] = thread_root(policy)
    return message


def declined(policy: ListPolicy, address: str, reason: str, *, message_id: str,
             now: datetime) -> EmailMessage:
    """Tell the address the moderators refused its subscription."""
    because = f"\nThe moderator said: {reason}\n" if reason else ""
    body = (f"The moderators of {policy.address} declined the request to subscribe "
            f"{address}.\n{because}\nQuestions go to the owners at "
            f"{policy.sub_address('-owner')}.\n")
    return notice(policy, address, f"Your request to join {_name(policy)}", body,
                  message_id=message_id, now=now)


def help_text(policy: ListPolicy) -> str:
    """What -request understands."""
    request = policy.sub_address("-request")
    return (f"Commands for the {_name(policy)} list ({policy.address}). Send them to\n"
            f"{request}, in the subject or one per line in the body:\n\n"
            "  help                       this text\n"
            "  info                       what the list is and how it works\n"
            "  subscribe [ADDRESS] [digest=mime|plain|no]\n"
            "                             join (also: join); another address confirms itself\n"
            "  unsubscribe [ADDRESS]      leave (also: leave)\n"
            "  set delivery regular|digest-mime|digest-plain|nomail\n"
            "                             how you receive the list\n"
            "  set digest mime|plain|off  the same: digests, or each post\n"
            "  set nomail on|off          stop or resume list mail, staying a member\n"
            "  who                        the members, where the list shows them\n"
            "  confirm TOKEN              confirm a request\n"
            "  end                        stop reading here (a signature stops it too)\n\n"
            "A set command changes the membership of your From address once that\n"
            "address answers the confirmation mailed to it (at once where the site's\n"
            "mail server authenticated it).\n\n"
            f"Or write to {policy.sub_address('-join')} to join and to "
            f"{policy.sub_address('-leave')} to leave;\nwhat the message says does not "
            f"matter. The owners: {policy.sub_address('-owner')}.")


_JOINING = {
    SubscriptionPolicy.OPEN: "anyone may join",
    SubscriptionPolicy.CONFIRM: "anyone may join, confirming by mail",
    SubscriptionPolicy.MODERATE: "the moderators approve each new member",
    SubscriptionPolicy.CONFIRM_THEN_MODERATE:
        "new members confirm by mail, then the moderators approve them",
}
_POSTING = {
    "members": "members post freely",
    "moderated": "a moderator reviews every post",
    "announce": "only the moderators post: it is an announcement list",
}
_ROSTER = {
    "private": "private",
    "members": 'members get it with the "who" command',
    "public": 'anyone gets it with the "who" command',
}


def info_text(policy: ListPolicy) -> str:
    """What the list is and how it works, for the info command."""
    lines = [f"{_name(policy)} <{policy.address}>", "",
             policy.description.strip() or "(The list has no description.)", "",
             f"Posting: write to {policy.address}; {_POSTING[policy.posting_policy]}.",
             f"Joining: {_JOINING[policy.subscription_policy]}; write to "
             f"{policy.sub_address('-join')}.",
             f"Leaving: write to {policy.sub_address('-leave')}.",
             f"Member list: {_ROSTER[policy.roster_visibility]}."]
    if policy.archive_url:
        lines.append(f"Archive: {policy.archive_url}")
    lines.append(f"Owners: {policy.sub_address('-owner')}")
    return "\n".join(lines)


def roster_text(policy: ListPolicy, addresses: Sequence[str]) -> str:
    """The member list for the who command."""
    return "\n".join([f"{len(addresses)} members of {policy.address}:", *sorted(addresses)])


def command_answer(policy: ListPolicy, to: str, results: str, *, found: bool, regarding: str,
                   message_id: str, now: datetime) -> EmailMessage:
    """The one answer to a message of commands: each command with its result."""
    request = policy.sub_address("-request")
    intro = "" if found else (
        f'No commands were found in your message. Send the word "help" to\n{request} '
        "for the commands you can use.\n\n")
    subject = answer_subject(regarding, f"The results of your message to {request}")
    return notice(policy, to, subject, f"{intro}{results}", message_id=message_id, now=now)
