# SPDX-License-Identifier: Apache-2.0
"""The moderation rules, one pure function each, and their order.

Each rule looks at a post, the list's policy and the facts the shell gathered
(who the sender is, whether the Message-ID was seen lately) and returns a Hit
when it wants something other than plain acceptance (or, for `approved`,
acceptance whatever later rules say). Every rule runs; the hits are
recorded; the first hit decides (the README, "How a post flows").

No rule raises on a Post that parse_post produced, however broken the
message: what cannot be read counts as absent, and a regular expression in
the list's settings that RE2 cannot take matches nothing.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from listserv.core import patterns
from listserv.core.addresses import normalise
from listserv.core.message import Post, address_keys, header_texts
from listserv.core.policy import Action, ListPolicy, PostingPolicy, Role, SenderStatus
from listserv.core.replies import body_text, own_lines
from listserv.errors import InvalidAddress


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule's finding: its name (the rule function's), why, and what it asks for."""

    rule: str
    reason: str
    action: Action


@dataclass(frozen=True, slots=True)
class Facts:
    """What the shell looked up for the rules."""

    sender: SenderStatus
    duplicate: bool = False  # this Message-ID was posted to the list within the window
    approved: bool = False  # the post carries the list's moderator password


Rule = Callable[[Post, ListPolicy, Facts], Hit | None]


def _key(address: str) -> str:
    """The match key of an address from the list's settings, lower-cased if it is not valid."""
    try:
        return normalise(address)
    except InvalidAddress:
        return address.strip().lower()


def _list_keys(policy: ListPolicy) -> set[str]:
    return {_key(address) for address in (policy.address, *policy.aliases)}


def _matching_entry(address: str, entries: Iterable[str]) -> str | None:
    """The first entry (a match key, or a case-insensitive ^regex) the address matches."""
    if not address:
        return None  # a post without an author matches no one, not even ^.*
    for entry in entries:
        if entry.startswith("^"):
            if patterns.matches(entry, address):  # one RE2 cannot take matches nothing
                return entry
        elif _key(entry) == address:
            return entry
    return None


def loop(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a post that has been through this list already: our List-Id or X-BeenThere."""
    own_id = policy.list_id.strip().strip("<>").strip().lower()
    for text in header_texts(post.message, "List-Id"):
        bracketed = re.search(r"<([^<>]*)>", text)
        value = (bracketed.group(1) if bracketed else text).strip().lower()
        if own_id and value == own_id:
            return Hit("loop", f"it already carries this list's List-Id <{policy.list_id}>, "
                       "so it came from the list itself (a mail loop)", Action.DISCARD)
    been_there = _list_keys(policy).intersection(address_keys(post.message, "X-BeenThere"))
    if been_there:
        return Hit("loop", f"its X-BeenThere header names {min(been_there)}, so it came "
                   "from the list itself (a mail loop)", Action.DISCARD)
    return None


def approved(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Pass a post that carries the list's moderator password past every later rule."""
    if not facts.approved:
        return None
    return Hit("approved", "it carries the list's moderator password (Approved:)",
               Action.ACCEPT)


# Mail commands (ops-request@, the README's addresses) people send to the post address.
_MEMBERSHIP_VERBS = {"subscribe", "unsubscribe", "join", "leave", "remove", "signoff", "sign-off"}
_MEMBERSHIP_WORDS = {"me", "please", "digest", "nodigest", "regular", "mime", "plain", "nomail"}
_SET_OPTIONS = {"digest", "nomail", "delivery"}
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")  # confirmation tokens carry >= 128 random bits
_COMMAND_LINES = 5  # body lines looked at
_SHORT_BODY = 10  # a body with this many lines or more is a post, whatever it starts with


def _is_command(line: str, list_names: set[str]) -> bool:
    """Whether a line is a bare mail command such as "unsubscribe" or "set digest mime"."""
    words = line.lower().split()
    polite = words[:1] == ["please"]  # "please unsubscribe me"
    if polite or words[:2] == ["re:", "confirm"]:  # a reply to a confirmation request
        words = words[1:]
    if not words:
        return False
    verb, args = words[0], words[1:]
    if verb.rstrip(".!") in _MEMBERSHIP_VERBS:
        args = [bare for arg in args if (bare := arg.rstrip(".!,"))]
        return len(args) <= 3 and all(
            "@" in arg or arg in _MEMBERSHIP_WORDS or arg in list_names for arg in args)
    if polite:
        return False  # "please help" asks the members, not the server
    if verb == "help":
        return not args
    if verb == "set":
        return 1 <= len(args) <= 3 and args[0] in _SET_OPTIONS
    return verb == "confirm" and len(args) == 1 and _TOKEN.fullmatch(args[0]) is not None


def administrivia(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a short post whose subject or first lines are a mail command."""
    if not policy.administrivia:
        return None
    lines = own_lines(body_text(post.message), limit=_SHORT_BODY)
    if len(lines) >= _SHORT_BODY:
        return None
    names = {address.partition("@")[0].lower() for address in (policy.address, *policy.aliases)}
    for line in (post.subject, *lines[:_COMMAND_LINES]):
        if _is_command(line, names):
            command = line if len(line) <= 60 else line[:57] + "..."
            return Hit("administrivia", f'it looks like the mail command "{command}"; commands '
                       f"go to {policy.sub_address('-request')}, not to the list", Action.HOLD)
    return None


def banned(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a post whose author is on the list's ban list."""
    entry = _matching_entry(post.author, policy.ban_list)
    if entry is None:
        return None
    return Hit("banned", f"the sender {post.author} is banned from the list (ban list entry "
               f"{entry})", Action.DISCARD)


def emergency(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit every post while the list is under emergency moderation."""
    if not policy.emergency:
        return None
    return Hit("emergency", "the list is under emergency moderation: every post is held",
               Action.HOLD)


def moderated_member(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a member's post that needs a moderator: the member or the whole list is moderated."""
    sender = facts.sender
    if not sender.is_member:
        return None
    if sender.moderated:
        reason = f"the sender {sender.address} is a moderated member"
    elif sender.role in (Role.MODERATOR, Role.OWNER):
        return None  # the posting policy never holds the people who moderate
    elif policy.posting_policy is PostingPolicy.MODERATED:
        reason = "the list is moderated: every member's post is held"
    elif policy.posting_policy is PostingPolicy.ANNOUNCE:
        reason = "the list is announce-only: only moderators and owners post freely"
    else:
        return None
    return Hit("moderated_member", reason, Action.HOLD)


def nonmember(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a nonmember's post: the accept/hold/reject/discard lists, else the list's action."""
    if facts.sender.is_member:
        return None
    if not post.author:
        # Without an address nobody can be told of a reject, and nobody can be trusted.
        action = Action.DISCARD if policy.nonmember_action is Action.DISCARD else Action.HOLD
        return Hit("nonmember", "the post has no valid sender address (From, Sender and the "
                   "envelope sender are missing or invalid)", action)
    lists = ((policy.accept_these_nonmembers, Action.ACCEPT),
             (policy.hold_these_nonmembers, Action.HOLD),
             (policy.reject_these_nonmembers, Action.REJECT),
             (policy.discard_these_nonmembers, Action.DISCARD))
    for entries, action in lists:
        entry = _matching_entry(post.author, entries)
        if entry is not None:
            if action is Action.ACCEPT:
                return None
            return Hit("nonmember", f"the sender {post.author} is not a member and matches "
                       f"{entry} in the list's {action} list for nonmembers", action)
    if policy.nonmember_action is Action.ACCEPT:
        return None
    return Hit("nonmember", f"the sender {post.author} is not a member of the list",
               policy.nonmember_action)


def max_size(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a post larger than the list's size limit."""
    limit = policy.max_message_kb * 1024
    if limit <= 0 or len(post.raw) <= limit:
        return None
    size_kb = -(-len(post.raw) // 1024)
    return Hit("max_size", f"the message is {size_kb} KB, more than the list's limit of "
               f"{policy.max_message_kb} KB", Action.HOLD)


def max_recipients(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a post addressed to max_recipients or more people in To and Cc (as Mailman)."""
    if policy.max_recipients <= 0:
        return None
    count = len(set(address_keys(post.message, "To", "Cc")))
    if count < policy.max_recipients:
        return None
    return Hit("max_recipients", f"it is addressed to {count} recipients in To and Cc; the "
               f"list holds posts with {policy.max_recipients} or more", Action.HOLD)


def implicit_destination(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a post that does not name the list (or a former address) in To or Cc."""
    if not policy.require_explicit_destination:
        return None
    if _list_keys(policy).intersection(address_keys(post.message, "To", "Cc")):
        return None
    return Hit("implicit_destination", f"the list address {policy.address} is not in To or Cc "
               "(the post was sent as a Bcc or through another address)", Action.HOLD)


def header_match(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit the first header rule whose pattern matches; an accept rule stops the search."""
    for rule in policy.header_matches:
        # In linear time (RE2); a pattern it cannot take matches nothing (core.patterns).
        if any(patterns.matches(rule.pattern, text)
               for text in header_texts(post.message, rule.header)):
            if rule.action is Action.ACCEPT:
                return None  # first match wins (mlmmj README.access)
            return Hit("header_match", f"its {rule.header} header matches the list's rule "
                       f"{rule.pattern!r}", rule.action)
    return None


def duplicate_message_id(post: Post, policy: ListPolicy, facts: Facts) -> Hit | None:
    """Hit a Message-ID the list saw recently; held, not discarded, so nothing is lost silently."""
    if not facts.duplicate:
        return None
    return Hit("duplicate_message_id", "the same Message-ID was posted to the list recently"
               f" ({post.message_id or 'no Message-ID'})", Action.HOLD)


# The order the README documents ("How a post flows"); the first hit decides.
RULES: tuple[Rule, ...] = (
    loop,
    approved,
    administrivia,
    banned,
    emergency,
    moderated_member,
    nonmember,
    max_size,
    max_recipients,
    implicit_destination,
    header_match,
    duplicate_message_id,
)


def check(post: Post, policy: ListPolicy, facts: Facts) -> list[Hit]:
    """Run every rule in order; return the hits."""
    return [hit for rule in RULES if (hit := rule(post, policy, facts)) is not None]
