# SPDX-License-Identifier: Apache-2.0
"""Content filtering inside the pipeline: once, before decoration, and filter_action for
a post that nothing is left of."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from listserv.core.filtering import ContentFilter, FilterAction
from listserv.core.message import parse_post
from listserv.core.pipeline import (
    CONTENT_FILTER,
    Discard,
    Distribute,
    Forward,
    Hold,
    Reject,
    approve,
    process,
)
from listserv.core.policy import Action, ListPolicy, SenderStatus
from listserv.core.rules import Facts

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXE_ONLY = ContentFilter(True, filter_extensions=("exe",))
LIST = ListPolicy(address="ops@example.com", subject_prefix="[ops]", footer="Ops list",
                  content=EXE_ONLY)
MEMBER = Facts(SenderStatus("alice@example.org", is_member=True))
TOOL = (b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: Tool\r\n"
        b"Message-ID: <t@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nThe tool.\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="tool.exe"\r\n\r\nMZ\r\n--b--\r\n')
ONLY_EXE = (b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: Tool\r\n"
            b"Message-ID: <t@example.org>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="tool.exe"\r\n\r\nMZ\r\n')


def decide(raw: bytes, policy: ListPolicy = LIST) -> object:
    return process(parse_post(raw), policy, MEMBER, message_id="<n@ops>", now=NOW,
                   html_to_text=str)


def test_the_filtered_post_is_decorated_and_the_removed_parts_named() -> None:
    outcome = decide(TOOL)
    assert isinstance(outcome, Distribute)
    # A multipart left with one part is that part; the footer is appended to its text.
    assert outcome.message.get_content_type() == "text/plain"
    text = outcome.message.get_content()
    assert text.startswith("The tool.") and text.rstrip().endswith("Ops list")
    assert outcome.message["Subject"] == "[ops] Tool"
    assert outcome.removed == ["application/octet-stream (tool.exe)"]


@pytest.mark.parametrize(("action", "outcome", "hit_action"), [
    (FilterAction.DISCARD, Discard, Action.DISCARD),
    (FilterAction.HOLD, Hold, Action.HOLD),
    (FilterAction.REJECT, Reject, Action.REJECT),
    (FilterAction.FORWARD, Forward, Action.DISCARD),
])
def test_a_post_nothing_is_left_of_goes_to_the_filter_action(
        action: FilterAction, outcome: type, hit_action: Action) -> None:
    policy = replace(LIST, content=replace(EXE_ONLY, action=action))
    decided = decide(ONLY_EXE, policy)
    assert isinstance(decided, outcome)
    [hit] = decided.hits  # type: ignore[attr-defined]
    assert (hit.rule, hit.action) == (CONTENT_FILTER, hit_action)
    assert "application/octet-stream (tool.exe)" in hit.reason


def test_a_post_a_moderator_approved_goes_out_whole_when_nothing_would_be_left() -> None:
    outcome = approve(parse_post(ONLY_EXE), LIST, message_id="<n@ops>", now=NOW,
                      html_to_text=str)
    assert "tool.exe" in outcome.message.as_string() and outcome.removed == []


def test_a_post_a_moderator_approved_is_filtered_like_any_other() -> None:
    outcome = approve(parse_post(TOOL), LIST, message_id="<n@ops>", now=NOW,
                      html_to_text=str)
    assert "tool.exe" not in outcome.message.as_string()
