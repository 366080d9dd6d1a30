# SPDX-License-Identifier: Apache-2.0
"""Why a post did not go out, in plain words for its author, with what they can do.

The rules' reasons (core.rules) are written for moderators and name the
rule's technical cause; the author of a held or rejected post gets the
explanation of each hit from here instead. Every rule in rules.RULES has
one (tests/core/test_explanations.py checks). A banned sender learns
nothing that helps them around the ban.
"""

from collections.abc import Callable, Sequence

from listserv.core.message import Post, address_keys
from listserv.core.policy import Action, ListPolicy, PostingPolicy
from listserv.core.rules import Hit

Explain = Callable[[Post, ListPolicy], str]


def _loop(post: Post, policy: ListPolicy) -> str:
    return ("It carries the list's own headers, so it looks like list mail coming back to "
            "the list (a mail loop).")


def _approved(post: Post, policy: ListPolicy) -> str:
    return "It carries the list's moderator password."


def _administrivia(post: Post, policy: ListPolicy) -> str:
    return ("It looks like a request for the list's server (such as unsubscribe) rather "
            "than a message for the members. To unsubscribe or change your settings, "
            f"write to {policy.sub_address('-request')} instead.")


def _banned(post: Post, policy: ListPolicy) -> str:
    return "The list's moderators decide on posts from your address."


def _emergency(post: Post, policy: ListPolicy) -> str:
    return ("For the time being the moderators look at every post before it goes to the "
            "list.")


def _moderated_member(post: Post, policy: ListPolicy) -> str:
    if policy.posting_policy is PostingPolicy.ANNOUNCE:
        return ("The list is for announcements: only its moderators post to it, and they "
                "decide on posts from anyone else.")
    if policy.posting_policy is PostingPolicy.MODERATED:
        return "A moderator looks at every post to this list before it goes out."
    return "A moderator looks at posts from your address before they go out."


def _nonmember(post: Post, policy: ListPolicy) -> str:
    if not post.author:
        return ("Your message has no valid sender address in its From header, so the "
                "list cannot tell who sent it.")
    return (f"You are not a member of {policy.address}. Members' posts go out at once: "
            f"to join, send a message to {policy.sub_address('-join')}.")


def _max_size(post: Post, policy: ListPolicy) -> str:
    size_kb = -(-len(post.raw) // 1024)
    return (f"It is {size_kb:,} KB, more than the {policy.max_message_kb:,} KB the list "
            "takes. Send a link instead of the attachment.")


def _max_recipients(post: Post, policy: ListPolicy) -> str:
    count = len(set(address_keys(post.message, "To", "Cc")))
    return (f"It is addressed to {count} people in To and Cc, and the list holds posts "
            f"addressed to {policy.max_recipients} or more. Next time, write to the list "
            "alone.")


def _implicit_destination(post: Post, policy: ListPolicy) -> str:
    return (f"The list's address, {policy.address}, is not in its To or Cc: it reached "
            "the list as a Bcc or through another address. Next time, put the list's "
            "address in To.")


def _header_match(post: Post, policy: ListPolicy) -> str:
    return "Its headers match a filter the list's owners set up."


def _unexplained(post: Post, policy: ListPolicy) -> str:
    return "The list's settings do not let it go out as it is."


def _duplicate_message_id(post: Post, policy: ListPolicy) -> str:
    return ("A message with the same Message-ID reached the list recently, so it may be "
            "a copy of one sent before. If it is a new message, write it anew rather "
            "than sending the old one again.")


def _content_filter(post: Post, policy: ListPolicy) -> str:
    return ("Nothing is left of it once the parts the list does not carry (such as "
            "attachments of some types, or HTML) are removed. Send the text itself, in the "
            "body of the message.")


# Keyed by the rule's name (Hit.rule, the rule function's name).
EXPLANATIONS: dict[str, Explain] = {
    "loop": _loop,
    "approved": _approved,
    "administrivia": _administrivia,
    "banned": _banned,
    "emergency": _emergency,
    "moderated_member": _moderated_member,
    "nonmember": _nonmember,
    "max_size": _max_size,
    "max_recipients": _max_recipients,
    "implicit_destination": _implicit_destination,
    "header_match": _header_match,
    "duplicate_message_id": _duplicate_message_id,
    "content_filter": _content_filter,  # core.pipeline's, after the rules
}


def explain(hit: Hit, post: Post, policy: ListPolicy) -> str:
    """What the author is told about one hit; neutral words for a rule without its own."""
    return EXPLANATIONS.get(hit.rule, _unexplained)(post, policy)


def explanations(hits: Sequence[Hit], action: Action, post: Post,
                 policy: ListPolicy) -> list[str]:
    """The explanations of the hits that asked for this action, each once, in rule order."""
    return list(dict.fromkeys(explain(hit, post, policy) for hit in hits
                              if hit.action is action))

