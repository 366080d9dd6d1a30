# SPDX-License-Identifier: Apache-2.0
"""Mail to ops-request@, ops-join@ and ops-leave@: carry out what it asks, answer once.

core.commands reads the commands; each one is carried out on its own, so a
bad line spoils nothing else, and the sender gets one answer that lists every
command with its result. Membership changes go through handling.subscriptions.
Automatic mail (bounces, vacation replies, list mail) changes nothing and is
never answered, and no answer goes out past the daily limit (queueing.answer).
"""

import logging

from listserv.core import subscriptions as texts
from listserv.core.addresses import Destination, parse_address
from listserv.core.authorship import authenticated
from listserv.core.commands import (
    MAX_COMMANDS,
    MAX_UNRECOGNISED,
    SHOWN_REST,
    Command,
    Problem,
    Verb,
    format_results,
    parse,
)
from listserv.core.message import Post, parse_post
from listserv.core.notices import may_autorespond
from listserv.core.policy import DeliveryMode, RosterVisibility
from listserv.core.replies import reply_lines, reply_subject
from listserv.core.subscriptions import Request, Sender, sender_of
from listserv.db.members import find_member
from listserv.db.models import Inbound, MailingList
from listserv.db.roster import roster_addresses
from listserv.handling import notices, subscriptions
from listserv.handling.context import Work

log = logging.getLogger(__name__)

# Lines of a request read at most: what the parser may take, and the rest it quotes back.
READ_LINES = MAX_COMMANDS + MAX_UNRECOGNISED + SHOWN_REST + 1
UNKNOWN_TOKEN = ("Nothing was done: this token is unknown, already used, or expired. "
                 "A new request gets a new one.")


async def handle_request(work: Work, mlist: MailingList, row: Inbound,
                         destination: Destination) -> str:
    """Act on mail to -request, -join or -leave; return the inbound row's disposition."""
    post = parse_post(row.raw, row.mail_from, row.recipient)
    if not may_autorespond(post):
        log.info("%s to %s ignored: automatic mail asks nothing", work.origin, row.recipient)
        return "ignored"
    sender = sender_of(post)
    if sender.mailbox is None:
        log.info("%s to %s ignored: no valid sender address", work.origin, row.recipient)
        return "ignored"
    if destination is Destination.REQUEST:
        return await _run_commands(work, mlist, post, sender)
    if destination is Destination.JOIN:
        reply = await subscriptions.request_subscription(work, mlist, sender.mailbox, None, sender,
                                                         sender.name)
    else:
        reply = await subscriptions.request_unsubscription(work, mlist, sender.mailbox, sender)
    log.info("%s to %s from %s: %s", work.origin, row.recipient, sender.mailbox,
             reply.disposition)
    if not reply.asks_address:  # else the mail to the address is the answer
        await _answer(work, mlist, post, reply.text + "\n", found=True)
    return reply.disposition


async def _run_commands(work: Work, mlist: MailingList, post: Post, sender: Sender) -> str:
    parsed = parse(reply_subject(post.subject), reply_lines(post.message, limit=READ_LINES))
    results = [(item.line, await _execute(work, mlist, post, sender, item))
               for item in parsed.items]
    found = any(isinstance(item, Command) for item in parsed.items)
    log.info("%s to %s from %s: %d commands read (%s)", work.origin,
             mlist.address, sender.mailbox, len(parsed.items), parsed.ended_by)
    answered = await _answer(work, mlist, post, format_results(results, parsed), found=found)
    return "answered" if answered else "done"


async def _execute(work: Work, mlist: MailingList, post: Post, sender: Sender,
                   item: Command | Problem) -> str:
    """Carry out one command; the text says what came of it."""
    if isinstance(item, Problem):
        return item.reason
    policy = await work.policy(mlist)
    assert sender.mailbox is not None
    if item.verb is Verb.HELP:
        return texts.help_text(policy)
    if item.verb is Verb.INFO:
        return texts.info_text(policy)
    if item.verb is Verb.WHO:
        return await _who(work, mlist, sender)
    if item.verb in (Verb.SET_DELIVERY, Verb.SET_NOMAIL):
        return await _change_delivery(work, mlist, post, sender, item.delivery, item.nomail)
    if item.verb is Verb.CONFIRM:
        confirmed = await subscriptions.confirm(work, mlist, post, item.token or "", by_reply=False)
        return confirmed or UNKNOWN_TOKEN
    mailbox = parse_address(item.address) if item.address else sender.mailbox
    if item.verb is Verb.SUBSCRIBE:
        name = sender.name if mailbox.key == sender.mailbox.key else ""
        return (await subscriptions.request_subscription(work, mlist, mailbox, item.delivery,
                                                         sender, name)).text
    return (await subscriptions.request_unsubscription(work, mlist, mailbox, sender)).text


async def _change_delivery(work: Work, mlist: MailingList, post: Post, sender: Sender,
                           delivery: DeliveryMode | None, nomail: bool | None) -> str:
    """Change how the From address's membership receives the list, once the member confirms.

    A forged set could stop a member's mail or bury it in digests, and both
    From and envelope sender are forged at will: the change waits for the
    member's reply to a token mailed to the subscribed address, unless the
    trusted front MTA authenticated the From's domain. The requester learns
    whether the address is a member only where the answer reaches it.
    """
    assert sender.mailbox is not None
    policy = await work.policy(mlist)
    member = await find_member(work.session, mlist, sender.mailbox.key)
    if member is None:
        if sender.answered_directly:
            return f"{sender.mailbox} is not a member of {policy.address}; nothing changed."
    elif authenticated(post, work.settings.trusted_authserv_id):
        return subscriptions.apply_delivery(work, mlist, member, delivery, nomail)
    else:  # the member learns who asked: the envelope sender, where it is another address
        payload = {"delivery": str(delivery)} if delivery else {"nomail": nomail}
        requester = (member.address if sender.envelope == member.match_key
                     else sender.envelope or "an invalid envelope sender")
        await subscriptions.ask_to_confirm(work, mlist, Request.DELIVERY,
                                           parse_address(member.address),
                                           payload | {"by": requester})
    who = (f"{sender.mailbox} was" if sender.answered_directly
           else f"If {sender.mailbox} is a member, it was")
    return (f"{who} sent a message asking it to confirm the change; nothing changes until it "
            "is answered.")


async def _who(work: Work, mlist: MailingList, sender: Sender) -> str:
    """The member list, where the list shows it to this sender; private by default."""
    policy = await work.policy(mlist)
    visibility = policy.roster_visibility
    member = sender.answered_directly and sender.mailbox is not None \
        and await work.member(mlist, sender.mailbox.key) is not None
    if visibility is RosterVisibility.PUBLIC or (
            visibility is RosterVisibility.MEMBERS and member):
        return texts.roster_text(policy, await roster_addresses(work.session, mlist.id))
    if visibility is RosterVisibility.MEMBERS:
        return (f"Only members get the member list of {policy.address}, asking from their "
                "subscribed address.")
    return f"The member list of {policy.address} is private."


async def _answer(work: Work, mlist: MailingList, post: Post, body: str, *, found: bool) -> bool:
    """Answer the sender, unless the mail was automatic or the daily limit is reached."""
    policy = await work.policy(mlist)
    message = texts.command_answer(policy, post.mail_from, body, found=found,
                                   regarding=post.subject, message_id=work.message_id(),
                                   now=work.now)
    if post.message_id:
        message["In-Reply-To"] = post.message_id
    return await notices.answer(work, mlist, post, message, "request")
