# SPDX-License-Identifier: Apache-2.0
"""Carry out what failed deliveries and complaints mean for members, in the caller's transaction.

Mail to ops-bounces@ and ops-bounces+VERP@ comes here from processing, the
smarthost's refusals from the delivery recorder, and the clock's work from
housekeeping. This module records bounce events, keeps the members' scores,
disables, warns and removes members, acts on complaints, passes mail it
cannot read on to the owners (a few a day per list: the rest stays stored as
inbound rows) and sends the owners a daily list of failures that did not
count. It does not decide what a report says (core.bounces) nor when a
member is disabled, warned or removed (core.bouncing).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core import bouncing, verp
from listserv.core.addresses import parse_address
from listserv.core.bounces import Failure, Kind, Report, classify, refusal
from listserv.core.bouncing import BounceRules, Step
from listserv.core.message import parse_post
from listserv.core.policy import ComplaintAction, DeliveryStatus, ListPolicy, Role
from listserv.db import history
from listserv.db import members as db_members
from listserv.db.models import BounceEvent, Inbound, MailingList, Member, NoticeLog
from listserv.db.roster import staff_addresses
from listserv.db.snapshots import load_policy
from listserv.errors import InvalidAddress
from listserv.handling.context import ListCache, Site
from listserv.outbound import queueing

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
FORWARDS_PER_DAY = 10  # unrecognised messages passed on to one list's owners a day
FORWARD_KIND = "bounce-forward"  # notice_log kinds
SUMMARY_KIND = "bounce-summary"
SUMMARISED = (Kind.POLICY, Kind.TEMPORARY, Kind.UNKNOWN)


@dataclass(frozen=True, slots=True)
class _Scope:
    """The list a bounce is about and the transaction it is handled in."""

    session: AsyncSession
    mlist: MailingList
    hostname: str
    now: datetime
    cache: ListCache | None  # None outside processing: policies are read afresh
    origin: str  # the Message-ID of what is handled, for the log

    async def policy(self) -> ListPolicy:
        if self.cache is None:
            return await load_policy(self.session, self.mlist)
        return await self.cache.policy(self.session, self.mlist)

    def message_id(self) -> str:
        return make_msgid(domain=self.hostname)

    def roster_changed(self) -> None:
        if self.cache is not None:
            self.cache.forget(self.mlist)


def rules_of(mlist: MailingList) -> BounceRules:
    return BounceRules(float(mlist.bounce_score_threshold), mlist.bounce_warnings,
                       timedelta(days=mlist.bounce_warning_interval_days),
                       timedelta(days=mlist.bounce_score_decay_days),
                       mlist.bounce_notify_owners)


async def handle_bounce(session: AsyncSession, row: Inbound, extension: str,
                        mlist: MailingList, site: Site, now: datetime,
                        cache: ListCache) -> str:
    """Act on one message to -bounces; return the inbound row's disposition."""
    verp_address = verp.decode(extension) if extension else None  # None for garbage
    post = parse_post(row.raw, row.mail_from, row.recipient)
    result = classify(post.message, verp_address)
    scope = _Scope(session, mlist, site.hostname, now, cache, post.message_id or "(no Message-ID)")
    log.info("%s to %s: %s%s", scope.origin, row.recipient, result.report,
             "".join(f"; {f.address} {f.kind} {f.status}".rstrip() for f in result.failures))
    if result.report is Report.COMPLAINT:
        for address in result.complained:
            await _complaint(scope, address, result.feedback_type, row.id)
        return str(Report.COMPLAINT)
    for failure in result.failures:
        await _record(scope, failure, "verp" if verp_address else "dsn", row.id)
    if result.report is Report.UNRECOGNISED:
        return await _forward(scope, row.raw)
    return str(result.report)


async def record_refusal(session: AsyncSession, list_id: int, address: str, code: int,
                         text: str, now: datetime) -> None:
    """Record a recipient the smarthost refused (5xx at RCPT), or retrying gave up on."""
    mlist = await session.get(MailingList, list_id)
    if mlist is not None:
        hostname = mlist.address.rpartition("@")[2]  # for Message-IDs: no Site here
        scope = _Scope(session, mlist, hostname, now, None, f"delivery to {address}")
        await _record(scope, refusal(address, code, text), "smtp", None)


async def housekeeping(session: AsyncSession, site: Site, now: datetime,
                       cache: ListCache) -> None:
    """Warn and remove disabled members when due, let old scores decay, send summaries."""
    await _follow_ups(session, site, now, cache)
    await _decay(session, now)
    await _summaries(session, site, now, cache)


async def _member(scope: _Scope, failure: Failure, by_verp: bool = False) -> Member | None:
    """The member a failure is about; by VERP, only the one the VERP address names."""
    for address in (failure.address,) if by_verp else (failure.address, failure.final_recipient):
        try:
            key = parse_address(address).key
        except InvalidAddress:
            continue
        if (member := await db_members.find_member(scope.session, scope.mlist, key)) is not None:
            return member
    return None


async def _record(scope: _Scope, failure: Failure, source: str,
                  inbound_id: int | None) -> None:
    """Store a bounce event; raise the member's score, and past the threshold disable
    their delivery, warn them and tell the owners."""
    member = await _member(scope, failure, by_verp=source == "verp")
    scope.session.add(BounceEvent(
        list_id=scope.mlist.id, member_id=member.id if member else None,
        address=failure.address[:320], kind=str(failure.kind), status=failure.status[:16],
        reason=failure.reason, source=source, inbound_id=inbound_id, created_at=scope.now,
        processed_at=scope.now))
    if member is None or not failure.counts:
        return
    rules = rules_of(scope.mlist)
    score = bouncing.raised(member.bounce_score, member.last_bounce_at, scope.now, rules)
    if score is None:
        return  # one bounce a day counts
    member.bounce_score, member.last_bounce_at = score, scope.now
    if score >= rules.threshold and member.delivery_status is DeliveryStatus.ENABLED:
        await _disable(scope, member, rules)


async def _disable(scope: _Scope, member: Member, rules: BounceRules) -> None:
    """Stop delivery to a member, send the first warning and tell the owners.

    The warnings and the removal that follow fall due with time (housekeeping)
    for members disabled here: bounce_warned_at is set.
    """
    member.delivery_status = DeliveryStatus.DISABLED_BY_BOUNCE
    member.bounce_warnings_sent, member.bounce_warned_at = 0, scope.now
    scope.roster_changed()
    log.warning("%s: delivery to %s on %s disabled: bounce score %g", scope.origin,
                member.address, scope.mlist.address, member.bounce_score)
    policy = await scope.policy()
    await _tell_owners(scope, policy, member.address, "delivery disabled by bounces",
                       f"Its bounce score reached {member.bounce_score:g}. It gets "
                       f"{rules.warnings} warnings, {rules.warning_interval.days} days "
                       "apart, and is removed unless delivery is resumed.")
    if rules.warnings:
        await _warn(scope, member, policy, rules)


async def _warn(scope: _Scope, member: Member, policy: ListPolicy, rules: BounceRules) -> None:
    member.bounce_warnings_sent += 1
    member.bounce_warned_at = scope.now
    await queueing.send(scope.session, bouncing.warning(
        policy, member.address, member.bounce_warnings_sent, rules,
        message_id=scope.message_id(), now=scope.now), [member.address], policy,
        scope.mlist.id, "bounce-warning")


async def _remove(scope: _Scope, member: Member, policy: ListPolicy) -> None:
    if member.role is not Role.MEMBER:  # owners and moderators are removed by operators
        member.bounce_warnings_sent = scope.mlist.bounce_warnings + 1  # nothing more is due
        await _tell_owners(scope, policy, member.address, f"not removed: a {member.role}",
                           "Mail to it kept bouncing and every warning went out, but the "
                           "list's staff are removed by the site's operators.")
        return
    address = member.address
    await scope.session.delete(member)
    await scope.session.flush()
    scope.roster_changed()
    log.warning("%s: %s removed from %s: mail to it kept bouncing", scope.origin, address,
                scope.mlist.address)
    if policy.send_goodbye:
        await queueing.send(scope.session, bouncing.removal(
            policy, address, message_id=scope.message_id(), now=scope.now), [address],
            policy, scope.mlist.id, "goodbye")
    await _tell_owners(scope, policy, address, "removed after bounces",
                       "Mail to it kept bouncing after every warning.")


async def _complaint(scope: _Scope, address: str, feedback_type: str,
                     inbound_id: int) -> None:
    """Unsubscribe or disable a member who complained, as the list says."""
    member = await _member(scope, Failure(address, "", Kind.UNKNOWN))
    scope.session.add(BounceEvent(
        list_id=scope.mlist.id, member_id=member.id if member else None,
        address=address[:320], kind="complaint", reason=feedback_type, source="arf",
        inbound_id=inbound_id, created_at=scope.now, processed_at=scope.now))
    if member is None:
        log.info("%s: complaint about %s, no member of %s", scope.origin, address,
                 scope.mlist.address)
        return
    action = scope.mlist.complaint_action if member.role is Role.MEMBER \
        else ComplaintAction.NONE  # staff are not removed by a report
    if action is ComplaintAction.UNSUBSCRIBE:
        await scope.session.delete(member)
        await scope.session.flush()
    elif action is ComplaintAction.DISABLE:
        member.delivery_status = DeliveryStatus.DISABLED_BY_USER
    scope.roster_changed()
    done = {ComplaintAction.UNSUBSCRIBE: "unsubscribed", ComplaintAction.DISABLE:
            "delivery disabled", ComplaintAction.NONE: "nothing changed"}[action]
    log.warning("%s: %s complaint about %s on %s: %s", scope.origin, feedback_type,
                member.address, scope.mlist.address, done)
    await _tell_owners(scope, await scope.policy(), member.address,
                       f"complaint ({feedback_type}), {done}",
                       "A feedback report (RFC 5965) says this recipient reported list mail as "
                       f"unwanted; the list's complaint_action is {scope.mlist.complaint_action}.")


async def _tell_owners(scope: _Scope, policy: ListPolicy, address: str, what: str,
                       detail: str) -> None:
    if not scope.mlist.bounce_notify_owners:
        return
    owners = await staff_addresses(scope.session, scope.mlist.id, (Role.OWNER,))
    if owners:
        await queueing.send(scope.session, bouncing.owners_notice(
            policy, address, what, detail, to=owners, message_id=scope.message_id(),
            now=scope.now), owners, policy, scope.mlist.id, "owner")


async def _forward(scope: _Scope, raw: bytes) -> str:
    """Pass an unrecognised message on to the owners, a few a day; the rest stays stored."""
    if bouncing.FORWARDED.lower().encode() in raw.lower():
        log.warning("%s: unrecognised, and it returns a forward of ours; kept, not forwarded",
                    scope.origin)
        return str(Report.UNRECOGNISED)
    owners = await staff_addresses(scope.session, scope.mlist.id, (Role.OWNER,))
    forwarded = await scope.session.scalar(select(func.count()).select_from(NoticeLog).where(
        NoticeLog.list_id == scope.mlist.id, NoticeLog.kind == FORWARD_KIND,
        NoticeLog.sent_at >= scope.now - DAY))
    if not owners or (forwarded or 0) >= FORWARDS_PER_DAY:
        log.warning("%s: unrecognised; kept, not forwarded (%s)", scope.origin,
                    "no owners" if not owners else f"{forwarded} forwarded today")
        return str(Report.UNRECOGNISED)
    policy = await scope.policy()
    await queueing.send(scope.session, bouncing.unrecognised(
        policy, raw, to=owners, message_id=scope.message_id(), now=scope.now), owners, policy,
        scope.mlist.id, FORWARD_KIND)
    history.log_notice(scope.session, list_id=scope.mlist.id,
                       address=policy.sub_address("-owner"), kind=FORWARD_KIND, now=scope.now)
    return "forwarded"


async def _follow_ups(session: AsyncSession, site: Site, now: datetime,
                      cache: ListCache) -> None:
    """Warnings and removals that fall due with time."""
    rows = await session.execute(
        select(Member, MailingList).join(MailingList, Member.list_id == MailingList.id)
        .where(Member.delivery_status == DeliveryStatus.DISABLED_BY_BOUNCE,
               Member.bounce_warned_at.is_not(None)))  # set by hand: no warnings
    for member, mlist in rows.all():
        rules = rules_of(mlist)
        if member.bounce_warned_at is None or member.bounce_warnings_sent > rules.warnings:
            continue  # staff whose warnings all went out
        step = bouncing.next_step(member.bounce_warnings_sent, member.bounce_warned_at, now,
                                  rules)
        if step is None:
            continue
        scope = _Scope(session, mlist, site.hostname, now, cache, "housekeeping")
        policy = await scope.policy()
        if step is Step.WARN:
            await _warn(scope, member, policy, rules)
        else:
            await _remove(scope, member, policy)


async def _decay(session: AsyncSession, now: datetime) -> None:
    """Scores no bounce raised for the list's decay time start again from nothing."""
    rows = await session.execute(
        select(Member, MailingList).join(MailingList, Member.list_id == MailingList.id)
        .where(Member.bounce_score > 0, Member.delivery_status == DeliveryStatus.ENABLED))
    for member, mlist in rows.all():
        if not bouncing.current_score(member.bounce_score, member.last_bounce_at, now,
                                      rules_of(mlist)):
            member.bounce_score = 0.0


async def _summaries(session: AsyncSession, site: Site, now: datetime,
                     cache: ListCache) -> None:
    """Once a day at most, list for each list's owners the failures that did not count."""
    kinds = [str(kind) for kind in SUMMARISED]
    list_ids = await session.scalars(select(BounceEvent.list_id).distinct().where(
        BounceEvent.created_at >= now - DAY, BounceEvent.kind.in_(kinds)))
    for list_id in list_ids.all():
        last = await session.scalar(select(func.max(NoticeLog.sent_at)).where(
            NoticeLog.list_id == list_id, NoticeLog.kind == SUMMARY_KIND))
        mlist = await session.get(MailingList, list_id)
        if (last is not None and last > now - DAY) or mlist is None \
                or not mlist.bounce_notify_owners:
            continue
        events = (await session.scalars(select(BounceEvent).where(
            BounceEvent.list_id == list_id, BounceEvent.created_at > (last or now - DAY),
            BounceEvent.kind.in_(kinds)).order_by(BounceEvent.id))).all()
        owners = await staff_addresses(session, list_id, (Role.OWNER,))
        if not owners:
            continue
        scope = _Scope(session, mlist, site.hostname, now, cache, "housekeeping")
        policy = await scope.policy()
        await queueing.send(session, bouncing.summary(
            policy, [bouncing.Event(e.address, e.kind, e.status, e.reason, e.created_at)
                     for e in events], to=owners, message_id=scope.message_id(), now=now),
            owners, policy, list_id, SUMMARY_KIND)
        history.log_notice(session, list_id=list_id, address=policy.sub_address("-owner"),
                           kind=SUMMARY_KIND, now=now)
