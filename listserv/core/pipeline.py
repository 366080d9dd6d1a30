# SPDX-License-Identifier: Apache-2.0
"""The post pipeline: rules, the verdict of the first hit, decoration.

process() is a pure function of the post, the list's policy and what the
shell looked up; it returns an Outcome value. Nothing is sent or stored here.
Who gets an accepted post is core.recipients' choice, made by the shell a
chunk of the roster at a time.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

from listserv.core import rules
from listserv.core.decoration import decorate
from listserv.core.message import Post
from listserv.core.policy import Action, ListPolicy
from listserv.core.rules import Facts, Hit

HITS_HEADER = "X-Listserv-Rule-Hits"


@dataclass(frozen=True, slots=True)
class Distribute:
    """Accepted: send the decorated message to the members and archive it."""

    message: EmailMessage
    hits: list[Hit] = field(default_factory=list)


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


Outcome = Distribute | Hold | Reject | Discard


def process(post: Post, policy: ListPolicy, facts: Facts, *, message_id: str,
            now: datetime) -> Outcome:
    """Decide what happens to a post sent to the list's posting address."""
    hits = rules.check(post, policy, facts)
    match hits[0].action if hits else Action.ACCEPT:
        case Action.ACCEPT:
            return accept(post, policy, message_id=message_id, now=now, hits=hits)
        case Action.HOLD:
            return Hold(hits)
        case Action.REJECT:
            return Reject(hits)
        case _:
            return Discard(hits)


def accept(post: Post, policy: ListPolicy, *, message_id: str, now: datetime,
           hits: Sequence[Hit] = ()) -> Distribute:
    """Distribute a post: accepted by the rules, or approved by a moderator."""
    return Distribute(decorate(post, policy, message_id=message_id, now=now), list(hits))


def describe_hits(hits: Sequence[Hit]) -> str:
    """The value of the X-Listserv-Rule-Hits header: rule ids, first (deciding) first."""
    return "; ".join(hit.rule for hit in hits)


def with_hits_header(raw: bytes, hits: Sequence[Hit]) -> bytes:
    """The raw post with an X-Listserv-Rule-Hits header in front, for moderators."""
    if not hits:
        return raw
    return f"{HITS_HEADER}: {describe_hits(hits)}\r\n".encode("ascii") + raw
