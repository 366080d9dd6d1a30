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
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core import subscriptions as texts
from listserv.core.addresses import Mailbox, parse_address, split_recipient, sub_address
from listserv.core.message import Post
from listserv.core.moderation import Decision, Verdict, parse_decision
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy, Role
from listserv.core.replies import reply_lines, reply_subject
from listserv.core.subscriptions import Request, Sender, Step
from listserv.db import history
from listserv.db import members as db_members
from listserv.db.models import MailingList, Member, NoticeLog, PendingConfirmation
from listserv.db.roster import staff_addresses
from listserv.errors import Conflict
from listserv.handling.context import ListCache, Site
from listserv.outbound import queueing

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
CONFIRM_KIND = "confirm"  # notice_log kind of mail to an address about a request
READ_LINES = 3  # of a reply: a decision or a "no" is its first line


@dataclass(frozen=True, slots=True)
class Scope:
    """The list a request is about, the transaction it is handled in, and where it came from."""

    session: AsyncSession
    mlist: MailingList
    site: Site
    now: datetime
    cache: ListCache
    origin: str  # the request's Message-ID, for the log

    async def policy(self) -> ListPolicy:
        return await self.cache.policy(self.session, self.mlist)

    def message_id(self) -> str:
        return make_msgid(domain=self.site.hostname)


@dataclass(frozen=True, slots=True)
class Reply:
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


def _requested_by(sender: Sender) -> str:
    return str(sender.mailbox) if sender.mailbox else sender.envelope


async def request_subscription(scope: Scope, mailbox: Mailbox, delivery: DeliveryMode | None,
                               sender: Sender, name: str = "") -> Reply:
    """Subscribe an address, or ask it (or the moderators) first, as the list's policy says."""
    policy = await scope.policy()
    if await _is_list_address(scope, mailbox):
        return Reply(f"{mailbox} is the address of a mailing list; it cannot subscribe.",
                     "refused")
    member = await db_members.find_member(scope.session, scope.mlist, mailbox.key)
    step = texts.joining(policy.subscription_policy, sender.is_self(mailbox.key))
    payload = {"delivery": str(delivery or DeliveryMode.REGULAR), "name": name,
               "by": _requested_by(sender)}
    if member is not None and step is not Step.NOW:
        if await _may_write(scope, mailbox.key):
            await _mail(scope, mailbox, texts.already_member(
                policy, str(mailbox), message_id=scope.message_id(), now=scope.now))
    elif step is Step.CONFIRM:
        await ask_to_confirm(scope, Request.SUBSCRIBE, mailbox, payload)
    elif step is Step.APPROVE:
        await _ask_moderators(scope, mailbox, payload, "asked by mail")
    elif member is None:
        await _subscribe(scope, str(mailbox), name, DeliveryMode(payload["delivery"]),
                         "subscribed by mail")
    if step is Step.CONFIRM:
        return Reply(_asked_to_join(mailbox), "confirming", asks_address=True)
    if step is Step.APPROVE:
        return Reply(f"{mailbox} hears from the list about the request; the moderators of "
                     f"{policy.address} decide on new members.", "moderating")
    return Reply(f"{mailbox} is a member of {policy.address} now.", "subscribed")


async def request_unsubscription(scope: Scope, mailbox: Mailbox, sender: Sender) -> Reply:
    """Unsubscribe an address, or ask it first; a non-member gets nothing, the requester
    the same answer as for a member."""
    policy = await scope.policy()
    member = await db_members.find_member(scope.session, scope.mlist, mailbox.key)
    step = texts.leaving(policy.unsubscribe_confirm, sender.is_self(mailbox.key))
    if step is Step.CONFIRM:
        if member is not None:
            await ask_to_confirm(scope, Request.UNSUBSCRIBE, mailbox,
                                 {"by": _requested_by(sender)})
        return Reply(_asked_to_leave(mailbox), "confirming", asks_address=True)
    if member is not None:
        return Reply(await _unsubscribe(scope, mailbox.key, "unsubscribed by mail"),
                     "unsubscribed")
    return Reply(_left(mailbox, policy), "unsubscribed")


def _left(address: Mailbox | str, policy: ListPolicy) -> str:
    return f"{address} is not a member of {policy.address} now."


def apply_delivery(scope: Scope, member: Member, delivery: DeliveryMode | None,
                   nomail: bool | None) -> str:
    """Carry out "set delivery MODE" or "set nomail on|off" for a member; say what came of it."""
    current = texts.Delivery(member.delivery_mode, member.delivery_status)
    changed = texts.changed_delivery(current, mode=delivery, nomail=nomail)
    if changed is None:
        return (f"Nothing changed: the moderators stopped delivery to {member.address}; "
                f"ask the owners at {sub_address(scope.mlist.address, '-owner')}.")
    if changed.status is not current.status and current.status is \
            DeliveryStatus.DISABLED_BY_BOUNCE:
        member.bounce_score = 0.0  # a fresh start, or the next bounce stops it again
    db_members.set_delivery_mode(member, changed.mode)
    member.delivery_status = changed.status
    scope.cache.forget(scope.mlist)
    log.info("%s: delivery to %s on %s: %s", scope.origin, member.address,
             scope.mlist.address, changed.describe())
    return f"{member.address} receives {changed.describe()}."


async def invite(scope: Scope, mailbox: Mailbox, name: str = "") -> bool:
    """Invite an address on behalf of the owners; False for a member (nothing is sent)."""
    if await db_members.find_member(scope.session, scope.mlist, mailbox.key) is not None:
        return False
    policy = await scope.policy()
    row = await _pending(scope, Request.INVITE, mailbox,
                         {"delivery": str(DeliveryMode.REGULAR), "name": name},
                         scope.site.confirm_days)
    await _mail(scope, mailbox, texts.invitation(
        policy, str(mailbox), row.token, expires_at=row.expires_at,
        message_id=scope.message_id(), now=scope.now))
    return True


async def confirm_by_reply(session: AsyncSession, post: Post, token: str, mlist: MailingList,
                           site: Site, now: datetime, cache: ListCache) -> str | None:
    """Act on a reply to ops-confirm+TOKEN@; None when the token is no pending request."""
    scope = Scope(session, mlist, site, now, cache, post.message_id or "(no Message-ID)")
    return await confirm(scope, post, token, by_reply=True)


async def confirm(scope: Scope, post: Post, token: str, *, by_reply: bool) -> str | None:
    """Carry out the request a token stands for; None when it is unknown, used or expired.

    By reply, a first line that just says no cancels the request, and a
    moderator's reply is their decision; a confirm command approves.
    """
    row = await scope.session.scalar(select(PendingConfirmation).where(
        PendingConfirmation.token == token, PendingConfirmation.list_id == scope.mlist.id,
        PendingConfirmation.action.in_([str(request) for request in Request]),
        PendingConfirmation.used_at.is_(None), PendingConfirmation.expires_at > scope.now))
    if row is None:
        return None
    lines = reply_lines(post.message, limit=READ_LINES) if by_reply else []
    request = Request(row.action)
    if request is Request.APPROVE:
        decision = (parse_decision(reply_subject(post.subject), lines) if by_reply
                    else Decision(Verdict.APPROVE))
        return await _moderate(scope, post, row, decision)
    if not await _claim(scope, row):
        return None
    if texts.declines(lines):
        log.info("%s: %s declined the %s request on %s", scope.origin, row.address, request,
                 scope.mlist.address)
        return f"Cancelled: the request about {row.address} was dropped; nothing changed."
    return await _carry_out(scope, row, request)


async def _carry_out(scope: Scope, row: PendingConfirmation, request: Request) -> str:
    payload = row.payload
    name = str(payload.get("name", ""))
    if request is Request.INVITE:
        return await _subscribe(scope, row.address, name, DeliveryMode.REGULAR,
                                "accepted an invitation")
    if request is Request.UNSUBSCRIBE:
        return await _unsubscribe(scope, row.match_key, "confirmed by mail")
    if request is Request.NOMAIL:
        member = await db_members.find_member(scope.session, scope.mlist, row.match_key)
        if member is None:
            return f"{row.address} is not a member of {scope.mlist.address}; nothing changed."
        delivery = payload.get("delivery")
        return apply_delivery(scope, member, DeliveryMode(delivery) if delivery else None,
                              None if delivery else True)
    policy = await scope.policy()
    if texts.after_confirmation(policy.subscription_policy, request) is Step.APPROVE:
        await _ask_moderators(scope, parse_address(row.address), payload, "confirmed by mail")
        return (f"Thank you: {row.address} confirmed. The moderators of {policy.address} "
                "decide on new members; you hear from the list once they have.")
    return await _subscribe(scope, row.address, name,
                            DeliveryMode(payload.get("delivery", "regular")), "confirmed by mail")


_DECISIONS = (Verdict.APPROVE, Verdict.APPROVE_ALWAYS, Verdict.REJECT, Verdict.DISCARD,
              Verdict.DEFER)


async def _moderate(scope: Scope, post: Post, row: PendingConfirmation,
                    decision: Decision | None) -> str:
    """A moderator's decision on a subscription; anyone else decides nothing."""
    roster = await scope.cache.roster(scope.session, scope.mlist)
    member = roster.get(post.author) if post.author else None
    if member is None or member.role not in (Role.MODERATOR, Role.OWNER):
        log.warning("%s: %s is no moderator of %s; subscription of %s not decided",
                    scope.origin, post.author or "(no author)", scope.mlist.address,
                    row.address)
        return ("Nothing was done: only the list's moderators and owners decide on "
                "subscription requests, and your address is not one of them.")
    if decision is None or decision.verdict not in _DECISIONS:
        return ("Nothing was done: the first line of your reply is not a decision. Answer "
                "with one of: approve (or an empty reply), reject REASON, discard, defer.")
    if decision.verdict is Verdict.DEFER:
        return f"Kept: the request to subscribe {row.address} still waits."
    if not await _claim(scope, row):
        return f"Nothing was done: the request to subscribe {row.address} was decided already."
    log.info("%s: subscription of %s to %s: %s by %s", scope.origin, row.address,
             scope.mlist.address, decision.verdict, post.author)
    if decision.verdict is Verdict.DISCARD:
        return f"Discarded: the request to subscribe {row.address}."
    if decision.verdict is Verdict.REJECT:
        policy = await scope.policy()
        await _mail(scope, parse_address(row.address), texts.declined(
            policy, row.address, decision.reason, message_id=scope.message_id(), now=scope.now))
        return f"Rejected: the request to subscribe {row.address}; the address was told."
    return "Approved: " + await _subscribe(
        scope, row.address, str(row.payload.get("name", "")),
        DeliveryMode(row.payload.get("delivery", "regular")), f"approved by {post.author}")


async def _claim(scope: Scope, row: PendingConfirmation) -> bool:
    """Use a token once: of two replies racing, one claims it and the other finds it used."""
    claimed = await scope.session.execute(
        update(PendingConfirmation).where(
            PendingConfirmation.id == row.id, PendingConfirmation.used_at.is_(None),
            PendingConfirmation.expires_at > scope.now)
        .values(used_at=scope.now).execution_options(synchronize_session=False))
    return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


async def _subscribe(scope: Scope, address: str, name: str, delivery: DeliveryMode,
                     how: str) -> str:
    """Make an address a member; welcome it and tell the owners, where the list wants."""
    policy = await scope.policy()
    try:
        member = await db_members.add_member(scope.session, scope.mlist, parse_address(address),
                                             display_name=name[:200])
    except Conflict:
        return f"{address} is a member of {policy.address} already; nothing changed."
    member.delivery_mode = delivery
    scope.cache.forget(scope.mlist)
    log.info("%s: %s joined %s (%s)", scope.origin, address, policy.address, how)
    if policy.send_welcome:
        await queueing.send(scope.session, texts.welcome(
            policy, address, delivery, message_id=scope.message_id(), now=scope.now),
            [address], policy, scope.mlist.id, "welcome")
    await _tell_owners(scope, policy, address, True, how)
    return (f"{address} is a member of {policy.address} now, receiving "
            f"{texts.delivery_text(delivery)}.")


async def _unsubscribe(scope: Scope, key: str, how: str) -> str:
    """Remove a member; see them off and tell the owners, where the list wants."""
    policy = await scope.policy()
    member = await db_members.find_member(scope.session, scope.mlist, key)
    if member is None:
        return _left(key, policy)
    if member.role is not Role.MEMBER:
        return (f"Nothing changed: {member.address} is a {member.role} of {policy.address}; "
                "owners and moderators are removed by the site's operators.")
    address = member.address
    await scope.session.delete(member)
    await scope.session.flush()
    scope.cache.forget(scope.mlist)
    log.info("%s: %s left %s (%s)", scope.origin, address, policy.address, how)
    if policy.send_goodbye:
        await queueing.send(scope.session, texts.goodbye(
            policy, address, message_id=scope.message_id(), now=scope.now),
            [address], policy, scope.mlist.id, "goodbye")
    await _tell_owners(scope, policy, address, False, how)
    return _left(address, policy)


async def _tell_owners(scope: Scope, policy: ListPolicy, address: str, joined: bool,
                       how: str) -> None:
    if not policy.notify_owners_of_subscriptions:
        return
    owners = await staff_addresses(scope.session, scope.mlist.id, (Role.OWNER,))
    if owners:
        await queueing.send(scope.session, texts.owner_notice(
            policy, address, joined, how, to=owners, message_id=scope.message_id(),
            now=scope.now), owners, policy, scope.mlist.id, "owner")


async def ask_to_confirm(scope: Scope, request: Request, mailbox: Mailbox,
                         payload: dict[str, Any]) -> None:
    """Mail the address a token for the request, within the daily limit."""
    if not await _may_write(scope, mailbox.key):
        return
    policy = await scope.policy()
    row = await _pending(scope, request, mailbox, payload, scope.site.confirm_days)
    await _mail(scope, mailbox, texts.confirmation(
        policy, request, str(mailbox), row.token,
        delivery=DeliveryMode(payload.get("delivery") or DeliveryMode.REGULAR),
        requested_by=str(payload.get("by", "")), expires_at=row.expires_at,
        message_id=scope.message_id(), now=scope.now))
    log.info("%s: %s asked to confirm: %s on %s", scope.origin, mailbox, request,
             policy.address)


async def _ask_moderators(scope: Scope, mailbox: Mailbox, payload: dict[str, Any],
                          how: str) -> None:
    """Pass a subscription to the moderators, once while a request for it waits."""
    session = scope.session
    waiting = await session.scalar(select(PendingConfirmation.id).where(
        PendingConfirmation.list_id == scope.mlist.id,
        PendingConfirmation.match_key == mailbox.key,
        PendingConfirmation.action == str(Request.APPROVE),
        PendingConfirmation.used_at.is_(None), PendingConfirmation.expires_at > scope.now)
        .limit(1))
    if waiting is not None:
        log.info("%s: %s waits for the moderators already", scope.origin, mailbox)
        return
    row = await _pending(scope, Request.APPROVE, mailbox, payload, scope.mlist.max_days_to_hold)
    staff = await staff_addresses(session, scope.mlist.id)
    if not staff:
        log.warning("%s: %s waits for approval on %s, which has no moderators or owners",
                    scope.origin, mailbox, scope.mlist.address)
        return
    policy = await scope.policy()
    await queueing.send(session, texts.approval_request(
        policy, str(mailbox), row.token, how=how, to=staff, expires_at=row.expires_at,
        message_id=scope.message_id(), now=scope.now), staff, policy, scope.mlist.id,
        "approval")


async def _pending(scope: Scope, request: Request, mailbox: Mailbox, payload: dict[str, Any],
                   days: int) -> PendingConfirmation:
    row = PendingConfirmation(
        list_id=scope.mlist.id, token=secrets.token_hex(16), action=str(request),
        address=str(mailbox), match_key=mailbox.key, payload=payload, created_at=scope.now,
        expires_at=scope.now + timedelta(days=days))
    scope.session.add(row)
    await scope.session.flush()
    return row


async def _may_write(scope: Scope, key: str) -> bool:
    """Whether the address may get another mail about a request today (no floods)."""
    sent = await scope.session.scalar(select(func.count()).select_from(NoticeLog).where(
        NoticeLog.list_id == scope.mlist.id, NoticeLog.address == key,
        NoticeLog.kind == CONFIRM_KIND, NoticeLog.sent_at >= scope.now - DAY))
    if (sent or 0) < scope.site.confirmations_per_day:
        return True
    log.info("%s: no mail to %s about a request on %s: %d sent today, the daily limit",
             scope.origin, key, scope.mlist.address, sent)
    return False


async def _mail(scope: Scope, mailbox: Mailbox, message: EmailMessage) -> None:
    """Send mail about a request to the address it is about, and count it."""
    policy = await scope.policy()
    await queueing.send(scope.session, message, [str(mailbox)], policy, scope.mlist.id,
                        CONFIRM_KIND)
    history.log_notice(scope.session, list_id=scope.mlist.id, address=mailbox.key,
                       kind=CONFIRM_KIND, now=scope.now)


async def _is_list_address(scope: Scope, mailbox: Mailbox) -> bool:
    """Whether the address is one of a list's (subscribing it would loop)."""
    recipient = split_recipient(mailbox.key)
    return recipient is not None and await scope.cache.find_list(
        scope.session, recipient.list_key) is not None
