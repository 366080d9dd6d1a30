# SPDX-License-Identifier: Apache-2.0
"""Patterns from list settings run on RE2, in time linear in the text (#14.8)."""

from dataclasses import replace

import pytest

from listserv.core import patterns, rules
from listserv.core.list_settings import LIST_SETTINGS, parse_assignments
from listserv.core.message import parse_post
from listserv.core.policy import Action, HeaderMatch, ListPolicy, SenderStatus
from listserv.core.rules import Facts
from listserv.errors import SettingError

LIST = ListPolicy(address="ops@example.com")
# Python's re needs 2^n steps for (a+)+$ on n a's and a character that ends the match:
# 26 held the server 3.3 s, so 60 would take longer than anyone would wait (years).
CATASTROPHIC = "(a+)+$"
SUBJECT = "a" * 60 + "!"


def post(subject: str, sender: str = "alice@example.org") -> bytes:
    return f"From: {sender}\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()


def test_a_catastrophic_header_pattern_is_answered_on_a_long_subject() -> None:
    policy = replace(LIST, header_matches=(HeaderMatch("Subject", CATASTROPHIC, Action.HOLD),))
    member = Facts(SenderStatus("alice@example.org", is_member=True))
    assert rules.header_match(parse_post(post(SUBJECT)), policy, member) is None
    hit = rules.header_match(parse_post(post("a" * 60)), policy, member)
    assert hit is not None and hit.action is Action.HOLD


def test_a_catastrophic_ban_pattern_is_answered_on_a_long_address() -> None:
    sender = "a" * 60 + "!@example.org"
    policy = replace(LIST, ban_list=(f"^{CATASTROPHIC}",))
    nobody = Facts(SenderStatus(sender))
    assert rules.banned(parse_post(post("x", sender)), policy, nobody) is None
    policy = replace(LIST, ban_list=("^(a+)+!@example\\.org$",))
    assert rules.banned(parse_post(post("x", sender)), policy, nobody) is not None


@pytest.mark.parametrize(("pattern", "text", "found"), [
    ("viagra", "Buy VIAGRA now", True),  # case-insensitive, as list patterns always were
    ("^\\[spam\\]", "[SPAM] offer", True),
    ("café", "CAFÉ au lait", True),
    ("\\bfoo\\b", "a foo b", True),
    ("\\bfoo\\b", "afoob", False),
    ("(?P<word>x)y", "xy", True),
    ("(x)\\1", "xx", False),  # RE2 cannot take it: it matches nothing
    ("[unclosed", "[unclosed", False),
    ("x", "\udcff x", False),  # text that is no valid Unicode
])
def test_matches(pattern: str, text: str, found: bool) -> None:
    assert patterns.matches(pattern, text) is found


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(x)\\1", "invalid escape sequence: \\1 (RE2 has no backreferences or look-around)"),
    ("(?=x)y", "invalid perl operator: (?= (RE2 has no backreferences or look-around)"),
    ("(?<!x)y", "invalid perl operator: (?<! (RE2 has no backreferences or look-around)"),
    ("[unclosed", "missing ]: [unclosed"),
    ("x\\Z", "invalid escape sequence: \\Z (RE2 has no backreferences or look-around)"),
    ("^.*@example\\.org$", None),
    (CATASTROPHIC, None),
])
def test_problem_says_why_re2_refuses_a_pattern(pattern: str, reason: str | None) -> None:
    assert patterns.problem(pattern) == reason


def test_unusable_lists_the_refused_patterns() -> None:
    assert patterns.unusable(["^ok", "(x)\\1", "fine"]) == [
        ("(x)\\1", "invalid escape sequence: \\1 (RE2 has no backreferences or look-around)")]


@pytest.mark.parametrize("assignment", [
    'header_matches=[{"header": "Subject", "pattern": "(x)\\\\1", "action": "hold"}]',
    "ban_list=^(?!alice).*@example\\.org$",
    "hold_these_nonmembers=[\"^(x)\\\\1@example\\\\.org$\"]",
])
def test_settings_refuse_patterns_re2_cannot_take(assignment: str) -> None:
    name = assignment.partition("=")[0]
    with pytest.raises(SettingError, match=f"^{name}: bad regular expression '"):
        parse_assignments([assignment], LIST_SETTINGS)


def test_settings_take_the_catastrophic_pattern_it_runs_safely() -> None:
    parsed = parse_assignments(
        ['header_matches=[{"header": "Subject", "pattern": "(a+)+$", "action": "hold"}]'],
        LIST_SETTINGS)
    assert parsed["header_matches"][0]["pattern"] == CATASTROPHIC
