# SPDX-License-Identifier: Apache-2.0
"""A visitor's search as plain words, and the private markers that highlight them.

The words are never handed to a search engine's query language: quotes,
operators and brackets are text like any other, so no query can fail to
parse. The database marks the words it matched with MARK_START and MARK_END,
characters no page shows; core.markup escapes the text and only then turns
them into <mark>.
"""

import re
from collections.abc import Sequence

MARK_START = "\x02"
MARK_END = "\x03"
MAX_TERMS = 32
MAX_TERM_LENGTH = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def terms(query: str) -> list[str]:
    """The words to look for: those with a letter or digit, in order, without repeats."""
    words = _CONTROL.sub(" ", query).split()
    found = [word[:MAX_TERM_LENGTH] for word in words if any(c.isalnum() for c in word)]
    return list(dict.fromkeys(found))[:MAX_TERMS]


def fts5_match(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression that finds every word: each one a quoted string."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def unmarked(text: str) -> str:
    """The text without highlight markers."""
    return text.replace(MARK_START, "").replace(MARK_END, "")
