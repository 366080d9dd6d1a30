# SPDX-License-Identifier: Apache-2.0
from datetime import UTC, datetime

import pytest

from listserv.core.moderation import (
    Decision,
    HeldPost,
    Verdict,
    held_notice,
    held_summary,
    parse_decision,
    parse_withdrawal,
    reply_address,
)
from listserv.core.policy import ListPolicy

POLICY = ListPolicy(address="ops@example.com", display_name="Operations Excellence",
                    list_id="ops.example.com", subject_prefix="[ops]")
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
HELD = HeldPost(7, "a" * 32, "boss@partner.example", "Partnership", ("not a member",), NOW,
                NOW, 2048)


@pytest.mark.parametrize(("subject", "lines", "decision"), [
    ("", ["approve"], Decision(Verdict.APPROVE)),
    ("", ["Approve."], Decision(Verdict.APPROVE)),
    ("", ["APPROVED!"], Decision(Verdict.APPROVE)),
    ("", ["approve always"], Decision(Verdict.APPROVE_ALWAYS)),
    ("", ["Approve Always."], Decision(Verdict.APPROVE_ALWAYS)),
    ("", ["reject"], Decision(Verdict.REJECT)),
    ("", ["reject Off topic"], Decision(Verdict.REJECT, "Off topic")),
    ("", ["Reject: not for this list"], Decision(Verdict.REJECT, "not for this list")),
    ("", ["discard", "approve"], Decision(Verdict.DISCARD)),
    ("", ["ban"], Decision(Verdict.BAN)),
    ("", ["defer"], Decision(Verdict.DEFER)),
    ("", [], Decision(Verdict.APPROVE)),  # an empty reply approves
    ("discard", [], Decision(Verdict.DISCARD)),  # failing a body, the subject
    ("[ops] Held: \"reject this\" from x@example.org", [], Decision(Verdict.APPROVE)),
    ("", ["approve? no, reject"], None),
    ("", ["approve please wait"], None),
    ("", ["Sent from my iPhone"], None),
    ("", ["yes"], None),
    ("approve", ["Thanks!"], None),  # the body speaks first
])
def test_parse_decision(subject: str, lines: list[str], decision: Decision | None) -> None:
    assert parse_decision(subject, lines) == decision


def test_a_rejection_reason_is_kept_short() -> None:
    decision = parse_decision("", ["reject " + "x" * 2000])
    assert decision is not None and len(decision.reason) == 500


@pytest.mark.parametrize(("lines", "withdraws"), [
    ([], True), (["withdraw"], True), (["Withdraw, please"], True),
    (["Thanks, I will wait"], False), (["approve"], False)])
def test_parse_withdrawal(lines: list[str], withdraws: bool) -> None:
    assert parse_withdrawal(lines) is withdraws


def test_the_held_notice_answers_to_the_posts_own_address() -> None:
    raw = b"From: boss@partner.example\r\nSubject: Partnership\r\n\r\nHello\r\n"
    notice = held_notice(POLICY, HELD, raw, to=["mo@example.org"], size_limit=1 << 20,
                         message_id="<n@x>", now=NOW)
    assert reply_address(POLICY, HELD.token) == f"ops-confirm+{'a' * 32}@example.com"
    assert notice["Reply-To"] == reply_address(POLICY, HELD.token)
    assert notice["Subject"] == '[ops] Held: "Partnership" from boss@partner.example'
    assert notice["Auto-Submitted"] == "auto-replied"


def test_the_summary_lists_each_post_with_its_address() -> None:
    other = HeldPost(8, "b" * 32, "", "", ("x",), NOW, NOW, 10)
    text = held_summary(POLICY, [HELD, other], to=["mo@example.org"], message_id="<s@x>",
                        now=NOW).get_content()
    assert reply_address(POLICY, "a" * 32) in text and reply_address(POLICY, "b" * 32) in text
    assert "(no subject)" in text and "(unknown sender)" in text
