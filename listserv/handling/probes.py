# SPDX-License-Identifier: Apache-2.0
"""Tell a bounce that proves something from hearsay, and probe the members hearsay names,
in the caller's transaction.

A bounce proves that listserv mailed its member when it comes to a VERP
address listserv signed for the list, or to the signed address of a probe
listserv sent (the probe is then answered, once). Anything else sent to
-bounces is hearsay: it is recorded, tied to no member, for the owners'
daily summary, and each member it says is gone gets a probe (core.bouncing
decides whom). Scoring is listserv.handling.bounces' business.
"""

import logging
from datetime import timedelta
from email.utils import parseaddr

from listserv.core import bouncing, verp
from listserv.core.addresses import normalise
from listserv.core.bounces import Classification, Report
from listserv.core.bouncing import Source
from listserv.core.message import Post, header_text
from listserv.core.tokens import read_unsubscribe_token
from listserv.db import bounces as db_bounces
from listserv.db import members as db_members
from listserv.db.models import MailingList
from listserv.db.roster import member_keys
from listserv.handling import notices
from listserv.handling.context import Work

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
KIND = "probe"  # delivery_job.kind of a probe


async def origin(work: Work, mlist: MailingList, extension: str) -> tuple[Source, str | None]:
    """How mail to -bounces came: to a VERP address listserv signed for the list (or for a
    probe, which is then answered), with the member it names; or as hearsay, to the plain
    address or to a VERP address whose tag does not verify, naming nobody."""
    found = verp.decode(extension) if extension else None
    if found is None or not found.tag:
        return (Source.UNVERIFIED if extension else Source.PLAIN), None
    key = work.settings.hmac_key
    if verp.verifies(found, key, mlist.id):
        return Source.VERP, found.address
    member = await db_members.find_member(work.session, mlist, normalise(found.address))
    for probe in await db_bounces.open_probes(work.session, member.id) if member else ():
        if verp.verifies(found, key, mlist.id, probe.id):
            probe.bounced_at = work.now  # what comes back to a probe counts once
            return Source.PROBE, found.address
    return Source.UNVERIFIED, None


async def proved(work: Work, mlist: MailingList, result: Classification) -> list[str]:
    """The members a complaint sent to the plain address proves listserv mailed: by the
    signed VERP address the copy it returns came from, or that copy's one-click token."""
    key = work.settings.hmac_key
    found = [decoded.address for extension in result.returned_verp
             if (decoded := verp.decode(extension)) and verp.verifies(decoded, key, mlist.id)]
    found += [named[1] for token in result.returned_tokens
              if (named := read_unsubscribe_token(key, token)) and named[0] == mlist.id]
    return list(dict.fromkeys(found))


async def hearsay(work: Work, mlist: MailingList, result: Classification, source: Source,
                  post: Post, inbound_id: int) -> None:
    """Record what a report that proves nothing says, tied to no member, and probe the
    members it says are gone."""
    for failure in result.failures:
        db_bounces.add_event(work.session, list_id=mlist.id, member_id=None,
                             address=failure.address, kind=str(failure.kind),
                             status=failure.status, reason=failure.reason, source=source,
                             inbound_id=inbound_id, now=work.now)
    if result.report is Report.UNRECOGNISED:
        sender = post.mail_from or parseaddr(header_text(post.message, "From"))[1]
        db_bounces.add_event(work.session, list_id=mlist.id, member_id=None,
                             address=sender, kind=str(Report.UNRECOGNISED),
                             reason=header_text(post.message, "Subject")[:200], source=source,
                             inbound_id=inbound_id, now=work.now)
    probed = await db_bounces.probed_since(work.session, mlist.id, work.now - DAY)
    members = await member_keys(work.session, mlist.id, bouncing.named_keys(result.failures))
    chosen = bouncing.whom_to_probe(result.failures, members, probed)
    for member_key in chosen:
        await _probe(work, mlist, member_key, inbound_id)
    if chosen:
        log.info("%s: %d members probed", work.origin, len(chosen))


async def _probe(work: Work, mlist: MailingList, member_key: str, inbound_id: int) -> None:
    """Send a member a probe from a VERP address of its own: only its bounce counts."""
    member = await db_members.find_member(work.session, mlist, member_key)
    if member is None:
        return
    policy = await work.policy(mlist)
    probe = await db_bounces.add_probe(work.session, list_id=mlist.id, member_id=member.id,
                                       inbound_id=inbound_id, now=work.now)
    mail_from = verp.sender(policy.sub_address("-bounces"), member.address,
                            work.settings.hmac_key, mlist.id, probe.id)
    if mail_from is None:  # an address too long to sign for: nothing sent back could count
        await work.session.delete(probe)
        return
    await notices.send(work, mlist, bouncing.probe(
        policy, member.address, message_id=work.message_id(), now=work.now),
        [member.address], KIND, mail_from)
