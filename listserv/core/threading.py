# SPDX-License-Identifier: Apache-2.0
"""Threading by Message-ID: reading In-Reply-To/References and ranking a post's ancestors.

Headers in the wild are messy: comments, phrases ("your message of …"),
missing angle brackets, ids folded across lines. Nothing here raises; what
cannot be read as a Message-ID is left out. Ids keep their angle brackets and
are compared exactly as written (RFC 5322 3.6.4 gives no case folding).
"""

import re

# Anything between angle brackets that is not itself a bracket; whitespace
# inside is folding (RFC 5322 obs-id-left allows CFWS) and is removed.
_BRACKETED = re.compile(r"<([^<>]*)>")
_BARE = re.compile(r"[^\s<>()\"@]+@[^\s<>()\"@]+")
MAX_PARENTS = 100  # References can be long; only the nearest ancestors matter


def parse_message_ids(text: str) -> list[str]:
    """The Message-IDs in a header value, in order, as '<id>'; garbage is skipped."""
    found = []
    for match in _BRACKETED.finditer(text):
        inner = "".join(match.group(1).split())
        if inner:
            found.append(f"<{inner}>")
    if not found and "<" not in text:
        # Some clients write In-Reply-To: 1234@host without brackets.
        found = [f"<{bare}>" for bare in _BARE.findall(text)]
    return found


def thread_parents(in_reply_to: str, references: str) -> list[str]:
    """Candidate ancestor ids, nearest first: In-Reply-To, then References last to first."""
    candidates = [*parse_message_ids(in_reply_to), *reversed(parse_message_ids(references))]
    return list(dict.fromkeys(candidates))[:MAX_PARENTS]


def reply_tree(posts: list[tuple[str, str, str]]) -> list[tuple[int, int]]:
    """Posts (Message-ID, In-Reply-To, References), in arrival order, as a tree to show:
    (index, depth) pairs, each post under its nearest ancestor among the earlier posts,
    replies in arrival order. A post whose ancestors are all missing is a root."""
    first: dict[str, int] = {}
    children: dict[int | None, list[int]] = {}
    for index, (message_id, in_reply_to, references) in enumerate(posts):
        parent = next((first[ancestor] for ancestor in thread_parents(in_reply_to, references)
                       if ancestor in first), None)
        children.setdefault(parent, []).append(index)
        first.setdefault(message_id, index)
    order: list[tuple[int, int]] = []
    stack = [(index, 0) for index in reversed(children.get(None, []))]
    while stack:  # no recursion: a thread can be thousands of replies deep
        index, depth = stack.pop()
        order.append((index, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(index, [])))
    return order
