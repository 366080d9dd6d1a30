# SPDX-License-Identifier: Apache-2.0
"""Carry out what failed deliveries and complaints mean for members, in the caller's transaction.

Mail to ops-bounces@ and ops-bounces+VERP@ comes here from processing, the
smarthost's refusals from the delivery recorder, and the clock's work from
housekeeping. This module tells a bounce to a VERP address listserv signed
(or to a probe's) from hearsay, records bounce events, keeps the members'
scores, sends the probes that hearsay sets off, disables, warns and removes
members, acts on complaints, passes mail it cannot read on to the owners (a
few a day per list: the rest stays stored as inbound rows) and sends the
owners a daily list of what counted against nobody. It does not decide what
a report says (core.bounces) nor what counts, whom to probe, when a member
is disabled, warned or removed (core.bouncing).
"""

import logging
from dataclasses import replace
from datetime import timedelta

from listserv.core import bouncing
from listserv.core.addresses import parse_address
from listserv.core.bounces import Classification, Failure, Kind, Report, classify, refusal
from listserv.core.bouncing import FollowUp, Source
from listserv.core.message import parse_post
from listserv.core.policy import ComplaintAction, DeliveryStatus, ListPolicy, Role
from listserv.db import bounces as db_bounces
from listserv.db import history
from listserv.db import members as db_members
from listserv.db.lists import list_by_id
from listserv.db.models import Inbound, MailingList, Member
from listserv.db.roster import staff_addresses
from listserv.errors import InvalidAddress
from listserv.handling import notices, probes
from listserv.handling.context import Work

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
FORWARDS_PER_DAY = 10  # unrecognised messages passed on to one list's owners a day
FORWARD_KIND = "bounce-forward"  # notice_log kinds
SUMMARY_KIND = "bounce-summary"
SUMMARISED = (Kind.POLICY, Kind.TEMPORARY, Kind.UNKNOWN)  # and all hearsay (bouncing.HEARSAY)


async def handle_bounce(work: Work, mlist: MailingList, row: Inbound, extension: str) -> str:
    """Act on one message to -bounces; return the inbound row's disposition."""
    post = parse_post(row.raw, row.mail_from, row.recipient)
    source, member = await probes.origin(work, mlist, extension)
    result = classify(post.message, member)
    failures = result.failures
    log.info("%s to %s (%s): %s%s%s", work.origin, row.recipient, source, result.report,
             "".join(f"; {f.address} {f.kind} {f.status}".rstrip() for f in failures[:5]),
             f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
    if result.report is Report.COMPLAINT:
        await _complaints(work, mlist, result, source, member, row.id)
        return str(Report.COMPLAINT)
    if member is None:
        await probes.hearsay(work, mlist, result, source, post, row.id)
    else:
        for failure in failures:
            await _record(work, mlist, failure, source, row.id)
    if result.report is Report.UNRECOGNISED:
        return await _forward(work, mlist, row.raw)
    return str(result.report)


async def record_refusal(work: Work, list_id: int, address: str, code: int, text: str, *,
                         mailbox: bool = True) -> None:
    """Record a recipient the smarthost refused (5xx at RCPT), or retrying gave up on;
    mailbox=False for one never offered to it, which counts against nobody."""
    mlist = await list_by_id(work.session, list_id)
    if mlist is not None:
        work.origin = f"delivery to {address}"
        failure = refusal(address, code, text)
        if not mailbox:
            failure = replace(failure, kind=Kind.POLICY)
        await _record(work, mlist, failure, Source.SMTP, None)


async def housekeeping(work: Work) -> None:
    """Warn and remove disabled members when due, let old scores decay, send summaries."""
    work.origin = "housekeeping"
    await _follow_ups(work)
    await _decay(work)
    await _summaries(work)


async def _member(work: Work, mlist: MailingList, failure: Failure,
                  by_verp: bool = False) -> Member | None:
    """The member a failure is about; by VERP, only the one the VERP address names."""
    for address in (failure.address,) if by_verp else (failure.address, failure.final_recipient):
        try:
            key = parse_address(address).key
        except InvalidAddress:
            continue
        if (member := await db_members.find_member(work.session, mlist, key)) is not None:
            return member
    return None


async def _record(work: Work, mlist: MailingList, failure: Failure, source: Source,
                  inbound_id: int | None) -> None:
    """Store a bounce event that proves its member was mailed; raise the member's score,
    and past the threshold disable their delivery, warn them and tell the owners."""
    member = await _member(work, mlist, failure, by_verp=source is not Source.SMTP)
    db_bounces.add_event(work.session, list_id=mlist.id, member_id=member.id if member else None,
                         address=failure.address, kind=str(failure.kind), status=failure.status,
                         reason=failure.reason, source=source, inbound_id=inbound_id,
                         now=work.now)
    if member is None or not failure.counts:
        return
    rules = (await work.policy(mlist)).bounces
    score = bouncing.raised(member.bounce_score, member.last_bounce_at, work.now, rules)
    if score is None:
        return  # one bounce a day counts
    member.bounce_score, member.last_bounce_at = score, work.now
    if work.metrics is not None:
        work.metrics.bounces_scored.labels(mlist.address).inc()
    if score >= rules.threshold and member.delivery_status is DeliveryStatus.ENABLED:
        await _disable(work, mlist, member)


async def _disable(work: Work, mlist: MailingList, member: Member) -> None:
    """Stop delivery to a member, send the first warning and tell the owners.

    The warnings and the removal that follow fall due with time (housekeeping)
    for members disabled here: bounce_warned_at is set.
    """
    member.delivery_status = DeliveryStatus.DISABLED_BY_BOUNCE
    member.bounce_warnings_sent, member.bounce_warned_at = 0, work.now
    log.warning("%s: delivery to %s on %s disabled: bounce score %g", work.origin,
                member.address, mlist.address, member.bounce_score)
    policy = await work.policy(mlist)
    rules = policy.bounces
    await _tell_owners(work, mlist, policy, member.address, "delivery disabled by bounces",
                       f"Its bounce score reached {member.bounce_score:g}. It gets "
                       f"{rules.warnings} warnings, {rules.warning_interval.days} days "
                       "apart, and is removed unless delivery is resumed.")
    if rules.warnings:
        await _warn(work, mlist, member, policy)


async def _warn(work: Work, mlist: MailingList, member: Member, policy: ListPolicy) -> None:
    member.bounce_warnings_sent += 1
    member.bounce_warned_at = work.now
    await notices.send(work, mlist, bouncing.warning(
        policy, member.address, member.bounce_warnings_sent, policy.bounces,
        message_id=work.message_id(), now=work.now), [member.address], "bounce-warning")


async def _remove(work: Work, mlist: MailingList, member: Member, policy: ListPolicy) -> None:
    if member.role is not Role.MEMBER:  # owners and moderators are removed by operators
        member.bounce_warnings_sent = policy.bounces.warnings + 1  # nothing more is due
        await _tell_owners(work, mlist, policy, member.address, f"not removed: a {member.role}",
                           "Mail to it kept bouncing and every warning went out, but the "
                           "list's staff are removed by the site's operators.")
        return
    address = member.address
    await db_members.remove_member(work.session, member)
    log.warning("%s: %s removed from %s: mail to it kept bouncing", work.origin, address,
                mlist.address)
    if policy.send_goodbye:
        await notices.send(work, mlist, bouncing.removal(
            policy, address, message_id=work.message_id(), now=work.now), [address], "goodbye")
    await _tell_owners(work, mlist, policy, address, "removed after bounces",
                       "Mail to it kept bouncing after every warning.")


async def _complaints(work: Work, mlist: MailingList, result: Classification, source: Source,
                      member: str | None, inbound_id: int) -> None:
    """Act on a feedback report for the members it proves listserv mailed: the one its
    signed VERP address names, or those the copy it returns was made for. Anyone can
    send a report naming anyone: one that proves nothing is only recorded, for the
    owners' daily summary."""
    proved = result.complained if member else await probes.proved(work, mlist, result)
    for address in proved:
        await _complaint(work, mlist, address, result.feedback_type, inbound_id)
    if proved:
        return
    for address in result.complained or ("",):
        db_bounces.add_event(work.session, list_id=mlist.id, member_id=None, address=address,
                             kind=bouncing.COMPLAINT_KIND, reason=result.feedback_type,
                             source=source, inbound_id=inbound_id, now=work.now)
    log.info("%s: %s complaint that proves no member was mailed; recorded for the owners",
             work.origin, result.feedback_type)


async def _complaint(work: Work, mlist: MailingList, address: str, feedback_type: str,
                     inbound_id: int) -> None:
    """Unsubscribe or disable a member who complained, as the list says."""
    member = await _member(work, mlist, Failure(address, "", Kind.UNKNOWN))
    db_bounces.add_event(work.session, list_id=mlist.id, member_id=member.id if member else None,
                         address=address, kind=bouncing.COMPLAINT_KIND, reason=feedback_type,
                         source=Source.COMPLAINT, inbound_id=inbound_id, now=work.now)
    if member is None:
        log.info("%s: complaint about %s, no member of %s", work.origin, address,
                 mlist.address)
        return
    policy = await work.policy(mlist)
    action = policy.complaint_action if member.role is Role.MEMBER \
        else ComplaintAction.NONE  # staff are not removed by a report
    if action is ComplaintAction.UNSUBSCRIBE:
        await db_members.remove_member(work.session, member)
    elif action is ComplaintAction.DISABLE:
        member.delivery_status = DeliveryStatus.DISABLED_BY_USER
    done = {ComplaintAction.UNSUBSCRIBE: "unsubscribed", ComplaintAction.DISABLE:
            "delivery disabled", ComplaintAction.NONE: "nothing changed"}[action]
    log.warning("%s: %s complaint about %s on %s: %s", work.origin, feedback_type,
                member.address, mlist.address, done)
    await _tell_owners(work, mlist, policy, member.address,
                       f"complaint ({feedback_type}), {done}",
                       "A feedback report (RFC 5965) says this recipient reported list mail as "
                       f"unwanted; the list's complaint_action is {policy.complaint_action}.")


async def _tell_owners(work: Work, mlist: MailingList, policy: ListPolicy, address: str,
                       what: str, detail: str) -> None:
    if not policy.bounces.notify_owners:
        return
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if owners:
        await notices.send(work, mlist, bouncing.owners_notice(
            policy, address, what, detail, to=owners, message_id=work.message_id(),
            now=work.now), owners, "owner")


async def _forward(work: Work, mlist: MailingList, raw: bytes) -> str:
    """Pass an unrecognised message on to the owners, a few a day; the rest stays stored."""
    if bouncing.FORWARDED.lower().encode() in raw.lower():
        log.warning("%s: unrecognised, and it returns a forward of ours; kept, not forwarded",
                    work.origin)
        return str(Report.UNRECOGNISED)
    owners = await staff_addresses(work.session, mlist.id, (Role.OWNER,))
    if not owners or not await notices.within_daily_limit(work, FORWARDS_PER_DAY, mlist=mlist,
                                                          kind=FORWARD_KIND):
        log.warning("%s: unrecognised; kept, not forwarded (%s)", work.origin,
                    "no owners" if not owners else "daily limit of forwards reached")
        return str(Report.UNRECOGNISED)
    policy = await work.policy(mlist)
    await notices.send(work, mlist, bouncing.unrecognised(
        policy, raw, to=owners, message_id=work.message_id(), now=work.now), owners,
        FORWARD_KIND)
    notices.count(work, mlist, policy.sub_address("-owner"), FORWARD_KIND)
    return "forwarded"


async def _follow_ups(work: Work) -> None:
    """Warnings and removals that fall due with time."""
    for member, mlist in await db_bounces.disabled_and_warned(work.session):
        policy = await work.policy(mlist)
        rules = policy.bounces
        if member.bounce_warned_at is None or member.bounce_warnings_sent > rules.warnings:
            continue  # staff whose warnings all went out
        step = bouncing.next_step(member.bounce_warnings_sent, member.bounce_warned_at,
                                  work.now, rules)
        if step is FollowUp.WARN:
            await _warn(work, mlist, member, policy)
        elif step is FollowUp.REMOVE:
            await _remove(work, mlist, member, policy)


async def _decay(work: Work) -> None:
    """Scores no bounce raised for the list's decay time start again from nothing."""
    scored = await db_bounces.scored(work.session)
    # Read before any score changes: a change makes the next read of a policy fresh.
    rules = {mlist.id: (await work.policy(mlist)).bounces for _, mlist in scored}
    for member, mlist in scored:
        if not bouncing.current_score(member.bounce_score, member.last_bounce_at, work.now,
                                      rules[mlist.id]):
            member.bounce_score = 0.0


async def _summaries(work: Work) -> None:
    """Once a day at most, list for each list's owners what counted against nobody."""
    kinds, sources = [str(kind) for kind in SUMMARISED], [str(s) for s in bouncing.HEARSAY]
    for list_id in await db_bounces.lists_with_events(work.session, work.now - DAY, kinds,
                                                      sources):
        last = await history.last_notice_at(work.session, list_id, SUMMARY_KIND)
        mlist = await list_by_id(work.session, list_id)
        if (last is not None and last > work.now - DAY) or mlist is None:
            continue
        policy = await work.policy(mlist)
        owners = await staff_addresses(work.session, list_id, (Role.OWNER,))
        if not policy.bounces.notify_owners or not owners:
            continue
        since = last or work.now - DAY
        events = await db_bounces.events_after(work.session, list_id, since, kinds, sources)
        probed = await db_bounces.count_probes(work.session, list_id, since)
        await notices.send(work, mlist, bouncing.summary(
            policy, [bouncing.Event(e.address, e.kind, e.status, e.reason, e.created_at,
                                    e.source) for e in events], probed, to=owners,
            message_id=work.message_id(), now=work.now), owners, SUMMARY_KIND)
        notices.count(work, mlist, policy.sub_address("-owner"), SUMMARY_KIND)
