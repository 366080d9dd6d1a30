# SPDX-License-Identifier: Apache-2.0
"""Membership by mail: pending requests and their tokens, and carrying requests out.

Everything runs in the caller's transaction. A token is good once: it is
claimed with a conditional UPDATE, so a reply that comes twice, or after the
token expired, changes nothing. Whether a request needs a confirmation or the
moderators is core.subscriptions' decision, not this module's. A requester
learns nothing about the roster from the answer (roster privacy): whether an
address is a member shows only in mail to that address.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

from listserv.core import subscriptions as texts
from listserv.core.addresses import Mailbox, parse_address, split_recipient, sub_address
from listserv.core.message import Post
from listserv.core.moderation import Decision, Verdict, parse_decision
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy, Role
from listserv.core.replies import reply_lines, reply_subject
from listserv.core.subscriptions import Request, Sender, Step
from listserv.db import confirmations
from listserv.db import members as db_members
from listserv.db.models import MailingList, Member, PendingConfirmation
from listserv.db.roster import staff_addresses
from listserv.errors import Conflict
from listserv.handling import moderation, notices
from listserv.handling.context import Work

log = logging.getLogger(__name__)

CONFIRM_KIND = "confirm"  # notice_log kind of mail to an address about a request
READ_LINES = 3  # of a reply: a decision or a "no" is its first line
NONMEMBER = "nonmember"  # what became of leaving for an address that is no member
_ROLE = {Role.OWNER: "an owner", Role.MODERATOR: "a moderator", Role.MEMBER: "a member"}


@dataclass(frozen=True, slots=True)
class RequestResult:
    """What became of a request: what the requester is told, the inbound row's disposition,
    and whether the address itself is asked (then -join and -leave need no answer)."""

    text: str
    disposition: str
    asks_address: bool = False


def _asked_to_join(address: Mailbox) -> str:
    return (f"{address} was sent a message asking it to confirm the subscription (or saying "
            "that it is a member already). Nothing changes until it is answered.")


def _asked_to_leave(address: Mailbox) -> str:
    return (f"If {address} is a member, it was sent a message asking it to confirm leaving. "
            "Nothing changes until it is answered.")


async def request_subscription(work: Work, mlist: MailingList, mailbox: Mailbox,
                               delivery: DeliveryMode | None, sender: Sender,
                               name: str = "") -> RequestResult:
    """Subscribe an address, or ask it (or the moderators) first, as the list's policy says."""
    policy = await work.policy(mlist)
    if await _is_list_address(work, mailbox):
        return RequestResult(
            f"{mailbox} is the address of a mailing list; it cannot subscribe.", "refused")
    member = await db_members.find_member(work.session, mlist, mailbox.key)
    step = texts.joining(policy.subscription_policy, sender.is_self(mailbox.key))
    payload = {"delivery": str(delivery or DeliveryMode.REGULAR), "name": name,
               "by": sender.described}
    if member is not None and step is not Step.NOW:
        if await _may_write(work, mlist, mailbox.key):
            await _mail(work, mlist, mailbox, texts.already_member(
                policy, str(mailbox), message_id=work.message_id(), now=work.now))
    elif step is Step.CONFIRM:
        await ask_to_confirm(work, mlist, Request.SUBSCRIBE, mailbox, payload)
    elif step is Step.APPROVE:
        await _ask_moderators(work, mlist, mailbox, payload, "asked by mail")
    elif member is None:
        await _subscribe(work, mlist, str(mailbox), name, DeliveryMode(payload["delivery"]),
                         "subscribed by mail")
    if step is Step.CONFIRM:
        return RequestResult(_asked_to_join(mailbox), "confirming", asks_address=True)
    if step is Step.APPROVE:
        return RequestResult(f"{mailbox} hears from the list about the request; the "
                             f"moderators of {policy.address} decide on new members.",
                             "moderating")
    return RequestResult(f"{mailbox} is a member of {policy.address} now.", "subscribed")


async def request_unsubscription(work: Work, mlist: MailingList, mailbox: Mailbox,
                                 sender: Sender) -> RequestResult:
    """Unsubscribe an address, or ask it first; a non-member gets nothing, the requester
    the same answer as for a member."""
    policy = await work.policy(mlist)
    member = await db_members.find_member(work.session, mlist, mailbox.key)
    step = texts.leaving(policy.unsubscribe_confirm, sender.is_self(mailbox.key))
    if step is Step.CONFIRM:
        if member is not None:
            await ask_to_confirm(work, mlist, Request.UNSUBSCRIBE, mailbox,
                                 {"by": sender.described})
        return RequestResult(_asked_to_leave(mailbox), "confirming", asks_address=True)
    if member is not None:
        return await unsubscribe(work, mlist, mailbox.key, "unsubscribed by mail")
    return RequestResult(_left(mailbox, policy), "unsubscribed")


def _left(address: Mailbox | str, policy: ListPolicy) -> str:
    return f"{address} is not a member of {policy.address} now."


def apply_delivery(work: Work, mlist: MailingList, member: Member,
                   delivery: DeliveryMode | None, nomail: bool | None) -> str:
    """Carry out "set delivery MODE" or "set nomail on|off" for a member; say what came of it."""
    current = texts.Delivery(member.delivery_mode, member.delivery_status)
    changed = texts.changed_delivery(current, mode=delivery, nomail=nomail)
    if changed is None:
        return (f"Nothing changed: the moderators stopped delivery to {member.address}; "
                f"ask the owners at {sub_address(mlist.address, '-owner')}.")
    if changed.status is not current.status and current.status is \
            DeliveryStatus.DISABLED_BY_BOUNCE:
        member.bounce_score = 0.0  # a fresh start, or the next bounce stops it again
    db_members.set_delivery_mode(member, changed.mode)
    member.delivery_status = changed.status
    log.info("%s: delivery to %s on %s: %s", work.origin, member.address,
             mlist.address, changed.describe())
    return f"{member.address} receives {changed.describe()}."


async def invite(work: Work, mlist: MailingList, mailbox: Mailbox, name: str = "") -> bool:
    """Invite an address on behalf of the owners; False for a member (nothing is sent)."""
    if await db_members.find_member(work.session, mlist, mailbox.key) is not None:
        return False
    policy = await work.policy(mlist)
    row = await _pending(work, mlist, Request.INVITE, mailbox,
                         {"delivery": str(DeliveryMode.REGULAR), "name": name},
                         timedelta(days=work.settings.confirm_days))
    await _mail(work, mlist, mailbox, texts.invitation(
        policy, str(mailbox), row.token, expires_at=row.expires_at,
        message_id=work.message_id(), now=work.now))
    return True


async def confirm(work: Work, mlist: MailingList, post: Post, token: str, *,
                  by_reply: bool) -> str | None:
    """Carry out the request a token stands for; None when it is unknown, used or expired.

    By reply, a first line that just says no cancels the request, and a
    moderator's reply is their decision; a confirm command approves.
    """
    row = await confirmations.find_pending(
        work.session, list_id=mlist.id, token=token, actions=[str(r) for r in Request],
        now=work.now)
    if row is None:
        return None
    lines = reply_lines(post.message, limit=READ_LINES) if by_reply else []
    request = Request(row.action)
    if request is Request.APPROVE:
        decision = (parse_decision(reply_subject(post.subject), lines) if by_reply
                    else Decision(Verdict.APPROVE))
        return await _moderate(work, mlist, post, row, decision)
    if not await _claim(work, row):
        return None
    if texts.declines(lines):
        log.info("%s: %s declined the %s request on %s", work.origin, row.address, request,
                 mlist.address)
        return f"Cancelled: the request about {row.address} was dropped; nothing changed."
    return await _carry_out(work, mlist, row, request)


async def _carry_out(work: Work, mlist: MailingList, row: PendingConfirmation,
                     request: Request) -> str:
    payload = row.payload
    name = str(payload.get("name", ""))
    if request is Request.INVITE:
        return await _subscribe(work, mlist, row.address, name, DeliveryMode.REGULAR,
                                "accepted an invitation")
    if request is Request.UNSUBSCRIBE:
        return (await unsubscribe(work, mlist, row.match_key, "confirmed by mail")).text
    if request is Request.DELIVERY:
        member = await db_members.find_member(work.session, mlist, row.match_key)
        if member is None:
            return f"{row.address} is not a member of {mlist.address}; nothing changed."
        return apply_delivery(work, mlist, member, _mode(payload), payload.get("nomail"))
    policy = await work.policy(mlist)
    if texts.after_confirmation(policy.subscription_policy, request) is Step.APPROVE:
        await _ask_moderators(work, mlist, parse_address(row.address), payload,
                              "confirmed by mail")
        return (f"Thank you: {row.address} confirmed. The moderators of {policy.address} "
                "decide on new members; you hear from the list once they have.")
    return await _subscribe(work, mlist, row.address, name,
                            DeliveryMode(payload.get("delivery", "regular")), "confirmed by mail")


_DECISIONS = (Verdict.APPROVE, Verdict.APPROVE_ALWAYS, Verdict.REJECT, Verdict.DISCARD,
              Verdict.DEFER)


async def _moderate(work: Work, mlist: MailingList, post: Post, row: PendingConfirmation,
                    decision: Decision | None) -> str:
    """A moderator's decision on a subscription; anyone else decides nothing."""
    member = await work.member(mlist, post.author)
    if member is None or member.role not in (Role.MODERATOR, Role.OWNER):
        log.warning("%s: %s is no moderator of %s; subscription of %s not decided",
                    work.origin, post.author or "(no author)", mlist.address,
                    row.address)
        return ("Nothing was done: only the list's moderators and owners decide on "
                "subscription requests, and your address is not one of them.")
    if (refusal := await moderation.unproven(
            work, mlist, post, f"subscribe {row.address} with the listserv members add "
            "command")):
        return refusal
    if decision is None or decision.verdict not in _DECISIONS:
        return ("Nothing was done: the first line of your reply is not a decision. Answer "
                "with one of: approve (or an empty reply), reject REASON, discard, defer.")
    if decision.verdict is Verdict.DEFER:
        return f"Kept: the request to subscribe {row.address} still waits."
    if not await _claim(work, row):
        return f"Nothing was done: the request to subscribe {row.address} was decided already."
    log.info("%s: subscription of %s to %s: %s by %s", work.origin, row.address,
             mlist.address, decision.verdict, post.author)
    if decision.verdict is Verdict.DISCARD:
        return f"Discarded: the request to subscribe {row.address}."
    if decision.verdict is Verdict.REJECT:
        policy = await work.policy(mlist)
        await _mail(work, mlist, parse_address(row.address), texts.declined(
            policy, row.address, decision.reason, message_id=work.message_id(), now=work.now))
        return f"Rejected: the request to subscribe {row.address}; the address was told."
    return "Approved: " + await _subscribe(
        work, mlist, row.address, str(row.payload.get("name", "")),
        DeliveryMode(row.payload.get("delivery", "regular")), f"approved by {post.author}")


async def _claim(work: Work, row: PendingConfirmation) -> bool:
    return await confirmations.claim(work.session, row.id, work.now)


async def _subscribe(work: Work, mlist: MailingList, address: str, name: str,
                     delivery: DeliveryMode, how: str) -> str:
    """Make an address a member; welcome it and tell the owners, where the list wants."""
    policy = await work.policy(mlist)
    try:
        member = await db_members.add_member(work.session, mlist, parse_address(address),
                                             display_name=name[:200])
    except Conflict:
        return f"{address} is a member of {policy.address} already; nothing changed."
    member.delivery_mode = delivery
    log.info("%s: %s joined %s (%s)", work.origin, address, policy.address, how)
    if policy.send_welcome:
        await notices.send(work, mlist, texts.welcome(
            policy, address, delivery, message_id=work.message_id(), now=work.now),
            [address], "welcome")
    await _tell_owners(work, mlist, policy, address, True, how)
    return (f"{address} is a member of {policy.address} now, receiving "
            f"{texts.delivery_text(delivery)}.")


async def unsubscribe(work: Work, mlist: MailingList, key: str, how: str) -> RequestResult:
    """Remove a member; see them off and tell the owners, where the list wants.

    Every way of leaving ends here: a mailed request, a confirmation, a
    one-click unsubscribe on the web. The disposition says what came of it:
    unsubscribed, nonmember (nobody to remove) or refused (owners and moderators).
    """
    policy = await work.policy(mlist)
    member = await db_members.find_member(work.session, mlist, key)
    if member is None:
        return RequestResult(_left(key, policy), NONMEMBER)
    if member.role is not Role.MEMBER:
        return RequestResult(
            f"Nothing changed: {member.address} is {_ROLE[member.role]} of {policy.address}; "
            "owners and moderators are removed by the site's operators.", "refused")
    address = member.address
    await db_members.remove_member(work.session, member)
    log.info("%s: %s left %s (%s)", work.origin, address, policy.address, how)
    if policy.send_goodbye:
        await notices.send(work, mlist, texts.goodbye(
            policy, address, message_id=work.message_id(), now=work.now),
            [address], "goodbye")
    await _tell_owners(work, mlist, policy, address, False, how)
    return RequestResult(_left(address, policy), "unsubscribed")


async def _tell_owners(work: Work, mlist: MailingList, policy: ListPolicy, address: str,
                       joined: bool, how: str) -> None:
    if not policy.notify_owners_of_subscriptions:
        return
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if owners:
        await notices.send(work, mlist, texts.owner_notice(
            policy, address, joined, how, to=owners, message_id=work.message_id(),
            now=work.now), owners, "owner")


async def ask_to_confirm(work: Work, mlist: MailingList, request: Request, mailbox: Mailbox,
                         payload: dict[str, Any]) -> None:
    """Mail the address a token for the request, within the daily limit."""
    if not await _may_write(work, mlist, mailbox.key):
        return
    policy = await work.policy(mlist)
    row = await _pending(work, mlist, request, mailbox, payload,
                         timedelta(days=work.settings.confirm_days))
    await _mail(work, mlist, mailbox, texts.confirmation(
        policy, request, str(mailbox), row.token, delivery=_mode(payload),
        nomail=payload.get("nomail"), requested_by=str(payload.get("by", "")),
        expires_at=row.expires_at, message_id=work.message_id(), now=work.now))
    log.info("%s: %s asked to confirm: %s on %s", work.origin, mailbox, request,
             policy.address)


def _mode(payload: dict[str, Any]) -> DeliveryMode | None:
    """The delivery mode a request asks for, if any."""
    return DeliveryMode(payload["delivery"]) if payload.get("delivery") else None


async def _ask_moderators(work: Work, mlist: MailingList, mailbox: Mailbox,
                          payload: dict[str, Any], how: str) -> None:
    """Pass a subscription to the moderators, once while a request for it waits."""
    if await confirmations.is_waiting(work.session, list_id=mlist.id, match_key=mailbox.key,
                                      action=str(Request.APPROVE), now=work.now):
        log.info("%s: %s waits for the moderators already", work.origin, mailbox)
        return
    policy = await work.policy(mlist)
    row = await _pending(work, mlist, Request.APPROVE, mailbox, payload,
                         timedelta(days=policy.holds.max_days))
    staff = await staff_addresses(work.session, mlist.id)
    if not staff:
        log.warning("%s: %s waits for approval on %s, which has no moderators or owners",
                    work.origin, mailbox, mlist.address)
        return
    await notices.send(work, mlist, texts.approval_request(
        policy, str(mailbox), row.token, how=how, to=staff, expires_at=row.expires_at,
        message_id=work.message_id(), now=work.now), staff, "approval")


async def _pending(work: Work, mlist: MailingList, request: Request, mailbox: Mailbox,
                   payload: dict[str, Any], lifetime: timedelta) -> PendingConfirmation:
    return await confirmations.add_pending(
        work.session, list_id=mlist.id, action=str(request), address=str(mailbox),
        match_key=mailbox.key, payload=payload, now=work.now, lifetime=lifetime)


async def _may_write(work: Work, mlist: MailingList, key: str) -> bool:
    """Whether the address may get another mail about a request today (no floods)."""
    if await notices.within_daily_limit(work, work.settings.confirmations_per_day,
                                        address=key, mlist=mlist, kind=CONFIRM_KIND):
        return True
    log.info("%s: no mail to %s about a request on %s: the daily limit is reached",
             work.origin, key, mlist.address)
    return False


async def _mail(work: Work, mlist: MailingList, mailbox: Mailbox, message: EmailMessage) -> None:
    """Send mail about a request to the address it is about, and count it."""
    await notices.send(work, mlist, message, [str(mailbox)], CONFIRM_KIND)
    notices.count(work, mlist, mailbox.key, CONFIRM_KIND)


async def _is_list_address(work: Work, mailbox: Mailbox) -> bool:
    """Whether the address is one of a list's (subscribing it would loop)."""
    recipient = split_recipient(mailbox.key)
    return recipient is not None and await work.find_list(recipient.list_key) is not None
