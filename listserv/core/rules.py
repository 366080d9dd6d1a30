# SPDX-License-Identifier: Apache-2.0
"""The moderation rules, one pure function each, and their order.

Each rule looks at a post, the list's policy and the facts the shell gathered
(who the sender is, whether the Message-ID was seen lately) and returns a Hit
when it wants something other than plain acceptance. Every rule runs; the
hits are recorded; the first hit decides (DESIGN.md, "Flow of a post").
"""

from collections.abc import Callable
from dataclasses import dataclass

from listserv.core.message import Post
from listserv.core.policy import Action, ListPolicy, SenderStatus


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


Rule = Callable[[Post, ListPolicy, Facts], Hit | None]

RULES: tuple[Rule, ...] = ()


def check(post: Post, policy: ListPolicy, facts: Facts) -> list[Hit]:
    """Run every rule in order; return the hits."""
    return [hit for rule in RULES if (hit := rule(post, policy, facts)) is not None]
