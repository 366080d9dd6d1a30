# SPDX-License-Identifier: Apache-2.0
"""What the author of a held or rejected post is told, for every rule."""

from dataclasses import dataclass, replace

import pytest

from listserv.core.explanations import EXPLANATIONS, explain, explanations
from listserv.core.message import Post, parse_post
from listserv.core.policy import (
    Action,
    HeaderMatch,
    ListPolicy,
    PostingPolicy,
    Role,
    SenderStatus,
)
from listserv.core.rules import RULES, Facts, Hit, check

LIST = ListPolicy(address="ops@example.com", list_id="ops.example.com", max_message_kb=1024,
                  max_recipients=10)
MEMBER = Facts(SenderStatus("alice@example.org", is_member=True, role=Role.MEMBER))
MODERATED = Facts(SenderStatus("alice@example.org", is_member=True, moderated=True))
STRANGER = Facts(SenderStatus("boss@partner.example"))


def post(headers: str = "", body: str = "The new seals are in the store on deck 2.\n",
         *, author: str = "Boss <boss@partner.example>", to: str = "ops@example.com") -> Post:
    raw = (f"From: {author}\nTo: {to}\nSubject: Partnership\nMessage-ID: <p1@partner.example>\n"
           f"{headers}\n{body}").encode()
    return parse_post(raw, mail_from="boss@partner.example", recipient="ops@example.com")


@dataclass(frozen=True)
class Case:
    rule: str
    post: Post
    policy: ListPolicy
    facts: Facts
    says: tuple[str, ...]  # what the explanation must contain


CASES = [
    Case("loop", post("List-Id: <ops.example.com>\n"), LIST, MEMBER, ("mail loop",)),
    Case("approved", post(), LIST, Facts(STRANGER.sender, approved=True), ("password",)),
    Case("administrivia", post(body="unsubscribe\n"), LIST, MEMBER,
         ("unsubscribe or change your settings, write to ops-request@example.com instead",)),
    Case("banned", post(), replace(LIST, ban_list=("boss@partner.example",)), STRANGER,
         ("moderators",)),
    Case("emergency", post(), replace(LIST, emergency=True), MEMBER, ("moderators",)),
    Case("moderated_member", post(), LIST, MODERATED, ("posts from your address",)),
    Case("moderated_member", post(), replace(LIST, posting_policy=PostingPolicy.MODERATED),
         MEMBER, ("every post to this list",)),
    Case("moderated_member", post(), replace(LIST, posting_policy=PostingPolicy.ANNOUNCE),
         MEMBER, ("announcements",)),
    Case("nonmember", post(), LIST, STRANGER,
         ("You are not a member of ops@example.com", "Members' posts go out at once",
          "send a message to ops-join@example.com")),
    Case("nonmember", post(author="nobody"), LIST, Facts(SenderStatus("")),
         ("no valid sender address",)),
    Case("max_size", post(body="x" * 3000 + "\n"), replace(LIST, max_message_kb=2), MEMBER,
         ("It is 4 KB, more than the 2 KB the list takes",
          "Send a link instead of the attachment")),
    Case("max_recipients", post(to="ops@example.com, a@example.org, b@example.org"),
         replace(LIST, max_recipients=3), MEMBER, ("addressed to 3 people", "3 or more")),
    Case("implicit_destination", post(to="crew@partner.example"), LIST, MEMBER,
         ("ops@example.com, is not in its To or Cc", "Bcc")),
    Case("header_match", post("X-Spam: yes\n"),
         replace(LIST, header_matches=(HeaderMatch("X-Spam", "yes", Action.HOLD),)), MEMBER,
         ("filter",)),
    Case("duplicate_message_id", post(), LIST, replace(MEMBER, duplicate=True),
         ("same Message-ID",)),
]


def test_every_rule_has_an_explanation_and_a_case_here() -> None:
    names = [rule.__name__ for rule in RULES]
    assert set(names) <= set(EXPLANATIONS)
    assert {case.rule for case in CASES} == set(names)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.rule)
def test_the_author_is_told_in_plain_words_not_the_rules_reason(case: Case) -> None:
    [hit] = [hit for hit in check(case.post, case.policy, case.facts) if hit.rule == case.rule]
    text = explain(hit, case.post, case.policy)
    for words in case.says:
        assert words in text
    assert hit.reason not in text


def test_a_rule_without_an_explanation_gets_neutral_words() -> None:
    text = explain(Hit("new_rule", "matched the new rule's regex ^x", Action.HOLD), post(), LIST)
    assert text and "regex" not in text and "new_rule" not in text


def test_only_the_hits_that_asked_for_the_action_are_explained_each_once() -> None:
    hits = [Hit("nonmember", "not a member", Action.HOLD),
            Hit("header_match", "X-Spam matches", Action.REJECT),
            Hit("nonmember", "not a member again", Action.HOLD)]
    assert explanations(hits, Action.HOLD, post(), LIST) == [
        explain(hits[0], post(), LIST)]
    assert explanations(hits, Action.REJECT, post(), LIST) == [
        explain(hits[1], post(), LIST)]
