# SPDX-License-Identifier: Apache-2.0
"""The post pipeline: rules, the verdict of the first hit, content filtering, decoration.

process() is a pure function of the post, the list's policy and what the
shell looked up; it returns an Outcome value. Nothing is sent or stored here.
An accepted post is filtered once, before decoration: members, archive and
digests all get what is left of it. Who gets it is core.recipients' choice,
made by the shell a chunk of the roster at a time.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from listserv.core import rules
from listserv.core.decoration import decorate, render
from listserv.core.filtering import FilterAction, Filtered, HtmlToText, filter_content
from listserv.core.message import Post, parse_post
from listserv.core.policy import Action, ListPolicy
from listserv.core.rules import Facts, Hit

HITS_HEADER = "X-Listserv-Rule-Hits"


@dataclass(frozen=True, slots=True)
class Distribute:
    """Accepted: send the decorated message to the members and archive it."""

    message: EmailMessage
    hits: list[Hit] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # the parts content filtering took out


@dataclass(frozen=True, slots=True)
class Hold:
    """Held for a moderator, for the reasons in hits."""

    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class Reject:
    """Refused: the author is told why (where an answer is allowed)."""

    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class Discard:
    """Dropped without a word (loops, banned senders, header rules)."""

    hits: list[Hit]


@dataclass(frozen=True, slots=True)
class Forward:
    """Content filtering left nothing: the post goes to the list's owners instead."""

    hits: list[Hit]


Outcome = Distribute | Hold | Reject | Discard | Forward
CONTENT_FILTER = "content_filter"  # the hit of a post content filtering left nothing of
_NOTHING_LEFT: dict[FilterAction, tuple[type[Discard | Hold | Reject | Forward], Action]] = {
    FilterAction.DISCARD: (Discard, Action.DISCARD),
    FilterAction.HOLD: (Hold, Action.HOLD),
    FilterAction.REJECT: (Reject, Action.REJECT),
    FilterAction.FORWARD: (Forward, Action.DISCARD),
}


def process(post: Post, policy: ListPolicy, facts: Facts, *, message_id: str,
            now: datetime, html_to_text: HtmlToText) -> Outcome:
    """Decide what happens to a post sent to the list's posting address."""
    hits = rules.check(post, policy, facts)
    match hits[0].action if hits else Action.ACCEPT:
        case Action.ACCEPT:
            return accept(post, policy, message_id=message_id, now=now, hits=hits,
                          html_to_text=html_to_text)
        case Action.HOLD:
            return Hold(hits)
        case Action.REJECT:
            return Reject(hits)
        case _:
            return Discard(hits)


def accept(post: Post, policy: ListPolicy, *, message_id: str, now: datetime,
           html_to_text: HtmlToText, hits: Sequence[Hit] = ()) -> Outcome:
    """Filter and distribute a post the rules accepted; the list's filter_action decides
    on one that filtering leaves nothing of."""
    filtered = filter_content(post.message, policy.content, html_to_text)
    if filtered.message is None:
        outcome, action = _NOTHING_LEFT[policy.content.action]
        removed = "; ".join(filtered.removed)
        return outcome([Hit(CONTENT_FILTER, f"nothing is left after content filtering "
                            f"removed {removed}", action), *hits])
    return _distribute(post, filtered, policy, message_id, now, hits)


def approve(post: Post, policy: ListPolicy, *, message_id: str, now: datetime,
            html_to_text: HtmlToText) -> Distribute:
    """Filter and distribute a post a moderator approved; one that filtering would leave
    nothing of goes out whole, as the moderator saw it."""
    filtered = filter_content(post.message, policy.content, html_to_text)
    return _distribute(post, filtered, policy, message_id, now, ())


def _distribute(post: Post, filtered: Filtered, policy: ListPolicy, message_id: str,
                now: datetime, hits: Sequence[Hit]) -> Distribute:
    removed = filtered.removed if filtered.message is not None else []
    if filtered.message is not None and filtered.changed:
        post = parse_post(render(filtered.message), post.mail_from, post.recipient)
    message = decorate(post, policy, message_id=message_id, now=now)
    return Distribute(message, list(hits), removed)


def describe_hits(hits: Sequence[Hit]) -> str:
    """The value of the X-Listserv-Rule-Hits header: rule ids, first (deciding) first."""
    return "; ".join(hit.rule for hit in hits)


def with_hits_header(raw: bytes, hits: Sequence[Hit]) -> bytes:
    """The raw post with an X-Listserv-Rule-Hits header in front, for moderators."""
    if not hits:
        return raw
    return f"{HITS_HEADER}: {describe_hits(hits)}\r\n".encode("ascii") + raw
