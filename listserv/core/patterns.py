# SPDX-License-Identifier: Apache-2.0
"""Regular expressions from a list's settings, matched in time linear in the text (RE2).

Python's re backtracks: a header_matches pattern of (a+)+$ held the server 3.3 s
on a 26-character subject, twice as long with each character more (#14.8).
RE2 matches in time linear in the text whatever the pattern, and refuses
what only backtracking can do (backreferences, look-around). The settings
parser refuses such patterns (problem); one stored before matches nothing,
and the shell says so once (unusable).
"""

from collections.abc import Iterable

import re2  # google-re2: a matching engine, no I/O

MAX_MEMORY = 8 << 20  # octets one compiled pattern may use (RE2's default)


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # list patterns ignore case, as they did with re
    options.log_errors = False  # RE2 would print a refused pattern to stderr
    options.max_mem = MAX_MEMORY
    return options


_OPTIONS = _options()


def problem(pattern: str) -> str | None:
    """Why RE2 cannot take the pattern, or None when it can."""
    try:
        re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return f"{text} (RE2 has no backreferences or look-around)" \
            if "perl operator" in text or "escape sequence" in text else text
    except UnicodeError:  # a lone surrogate, which no setting can hold
        return "not valid text"
    return None


def matches(pattern: str, text: str) -> bool:
    """Whether the pattern matches somewhere in the text, case-insensitively; a pattern
    RE2 cannot take matches nothing."""
    try:
        return re2.compile(pattern, _OPTIONS).search(text) is not None
    except (re2.error, UnicodeError):
        return False


def unusable(patterns: Iterable[str]) -> list[tuple[str, str]]:
    """(pattern, why) for each pattern RE2 cannot take, for the shell to report."""
    return [(pattern, reason) for pattern in patterns if (reason := problem(pattern))]
