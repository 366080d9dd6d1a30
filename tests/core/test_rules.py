# SPDX-License-Identifier: Apache-2.0
import random
from dataclasses import replace

import pytest

from listserv.core import rules
from listserv.core.message import Post, parse_post
from listserv.core.policy import (
    Action,
    HeaderMatch,
    ListPolicy,
    PostingPolicy,
    Role,
    SenderStatus,
)
from listserv.core.rules import RULES, Facts, Hit, Rule, check

LIST = ListPolicy(address="ops@example.com", aliases=("crew@example.com",),
                  list_id="ops.example.com")
MEMBER = Facts(SenderStatus("alice@example.org", is_member=True, role=Role.MEMBER))
MODERATOR = Facts(SenderStatus("mo@example.org", is_member=True, role=Role.MODERATOR))
OWNER = Facts(SenderStatus("olga@example.org", is_member=True, role=Role.OWNER))
NONMEMBER = Facts(SenderStatus("eve@example.net"))
NOBODY = Facts(SenderStatus(""))

HEADERS = b"From: Alice <Alice@Example.org>\nTo: ops@example.com\nSubject: Valve seals\n"
BODY = b"The new seals are in the store on deck 2.\n"


def post(headers: bytes = HEADERS, body: bytes = BODY) -> Post:
    return parse_post(headers + b"\n" + body, mail_from="alice@example.org",
                      recipient="ops@example.com")


def lines(count: int) -> bytes:
    return b"".join(b"Line %d of a real post.\n" % n for n in range(count))


def assert_hit(hit: Hit | None, rule: Rule, action: Action | None) -> None:
    if action is None:
        assert hit is None
    else:
        assert hit is not None
        assert (hit.rule, hit.action) == (rule.__name__, action)
        assert hit.reason and "\n" not in hit.reason


def test_rules_run_in_the_documented_order() -> None:
    assert [rule.__name__ for rule in RULES] == [
        "loop", "approved", "administrivia", "banned", "emergency", "moderated_member", "nonmember",
        "max_size", "max_recipients", "implicit_destination", "header_match",
        "duplicate_message_id"]


def test_an_ordinary_member_post_hits_nothing() -> None:
    assert check(post(), LIST, MEMBER) == []


def test_an_approved_post_is_accepted_whatever_later_rules_say() -> None:
    facts = Facts(NONMEMBER.sender, approved=True)
    hits = check(post(), replace(LIST, emergency=True), facts)
    assert [(hit.rule, hit.action) for hit in hits[:2]] == [
        ("approved", Action.ACCEPT), ("emergency", Action.HOLD)]
    assert rules.approved(post(), LIST, NONMEMBER) is None


def test_an_approved_post_that_loops_is_still_discarded() -> None:
    looped = post(HEADERS + b"X-BeenThere: ops@example.com\n")
    assert check(looped, LIST, Facts(MEMBER.sender, approved=True))[0].rule == "loop"


@pytest.mark.parametrize(("headers", "policy", "action"), [
    (HEADERS + b"List-Id: Ops crew <ops.example.com>\n", LIST, Action.DISCARD),
    (HEADERS + b"List-Id: <OPS.Example.COM>\n", LIST, Action.DISCARD),
    (HEADERS + b"List-Id: ops.example.com\n", LIST, Action.DISCARD),
    (HEADERS + b"List-Id: Other <other.example.com>\nList-Id: <ops.example.com>\n", LIST,
     Action.DISCARD),
    (HEADERS + b"X-BeenThere: ops@example.com\n", LIST, Action.DISCARD),
    (HEADERS + b"X-BeenThere: CREW@example.COM\n", LIST, Action.DISCARD),
    (HEADERS + b"List-Id: <other.example.com>\n", LIST, None),
    (HEADERS + b"List-Id: <ops.example.com.evil.net>\n", LIST, None),
    (HEADERS + b"X-BeenThere: other@example.com\n", LIST, None),
    (HEADERS + b"List-Id: <>\n", replace(LIST, list_id=""), None),
    (HEADERS + b"List-Id: \n", replace(LIST, list_id=""), None),
    (HEADERS, LIST, None),
])
def test_loop(headers: bytes, policy: ListPolicy, action: Action | None) -> None:
    assert_hit(rules.loop(post(headers), policy, MEMBER), rules.loop, action)


COMMAND = b"From: alice@example.org\nTo: ops@example.com\nSubject: "


@pytest.mark.parametrize(("raw", "action"), [
    (COMMAND + b"unsubscribe\n\n", Action.HOLD),
    (COMMAND + b"Unsubscribe\n\nSent from my phone\n", Action.HOLD),
    (COMMAND + b"unsubscribe alice@example.org\n\n", Action.HOLD),
    (COMMAND + b"Please unsubscribe me.\n\n", Action.HOLD),
    (COMMAND + b"subscribe ops\n\n", Action.HOLD),
    (COMMAND + b"subscribe address=bob@example.org digest\n\n", Action.HOLD),
    (COMMAND + b"join\n\n", Action.HOLD),
    (COMMAND + b"leave\n\n", Action.HOLD),
    (COMMAND + b"remove me\n\n", Action.HOLD),
    (COMMAND + b"signoff\n\n", Action.HOLD),
    (COMMAND + b"help\n\n", Action.HOLD),
    (COMMAND + b"set digest mime\n\n", Action.HOLD),
    (COMMAND + b"set nomail on\n\n", Action.HOLD),
    (COMMAND + b"confirm 3f2a9c8e1b7d4f60a5e2c9b1d8f7a6e4\n\n", Action.HOLD),
    (COMMAND + b"Re: confirm 3f2a9c8e1b7d4f60a5e2c9b1d8f7a6e4\n\n", Action.HOLD),
    (COMMAND + b"\n\nunsubscribe\n", Action.HOLD),
    (COMMAND + b"Hi\n\nHello\n\n> quoted text\n\nunsubscribe me\n-- \nAlice\n", Action.HOLD),
    (COMMAND + b"x\nContent-Type: multipart/alternative; boundary=b\n\n--b\n"
     b"Content-Type: text/html\n\n<p>hi</p>\n--b\nContent-Type: text/plain\n\n"
     b"unsubscribe\n--b--\n", Action.HOLD),
    (COMMAND + b"x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64"
     b"\n\ndW5zdWJzY3JpYmUK\n", Action.HOLD),
    (COMMAND + b"x\nContent-Type: text/plain; charset=no-such-charset\n\nleave\n", Action.HOLD),
    # Posts, not commands.
    (COMMAND + b"Need help with valve seals\n\nAnyone?\n", None),
    (COMMAND + b"Help!\n\nPump 3 is leaking.\n", None),
    (COMMAND + b"Help with valve seals\n\nAnyone?\n", None),
    (COMMAND + b"Please help\n\nAnyone?\n", None),
    (COMMAND + b"Re: help\n\nme too\n", None),
    (COMMAND + b"Leave policy\n\nWho approves leave?\n", None),
    (COMMAND + b"Join us at the pub\n\nFriday.\n", None),
    (COMMAND + b"Confirm attendance\n\nPlease.\n", None),
    (COMMAND + b"Set up of the new pump\n\nDone.\n", None),
    (COMMAND + b"unsubscribe\n\n" + lines(10), None),
    (COMMAND + b"Pump\n\n" + lines(5) + b"unsubscribe\n", None),
    (COMMAND + b"Pump\n\n> unsubscribe\n", None),
    (COMMAND + b"Pump\n\nThanks\n-- \nunsubscribe\n", None),
])
def test_administrivia(raw: bytes, action: Action | None) -> None:
    hit = rules.administrivia(parse_post(raw), LIST, MEMBER)
    assert_hit(hit, rules.administrivia, action)
    if hit:
        assert "ops-request@example.com" in hit.reason


def test_administrivia_is_off_when_the_list_says_so() -> None:
    raw = COMMAND + b"unsubscribe\n\n"
    assert rules.administrivia(parse_post(raw), replace(LIST, administrivia=False), MEMBER) is None


@pytest.mark.parametrize(("ban_list", "action"), [
    (("alice@example.org",), Action.DISCARD),
    (("ALICE@EXAMPLE.ORG",), Action.DISCARD),
    (("^alice@",), Action.DISCARD),
    (("^.*@EXAMPLE\\.org$",), Action.DISCARD),
    (("^[unclosed", "alice@example.org"), Action.DISCARD),
    (("^[unclosed",), None),
    (("bob@example.org", "^.*@example\\.net$"), None),
    (("not an address",), None),
    ((), None),
])
def test_banned(ban_list: tuple[str, ...], action: Action | None) -> None:
    policy = replace(LIST, ban_list=ban_list)
    assert_hit(rules.banned(post(), policy, NONMEMBER), rules.banned, action)


def test_a_post_without_an_author_is_never_banned_by_a_catch_all() -> None:
    nobody = parse_post(b"Subject: hi\n\nbody\n")
    assert rules.banned(nobody, replace(LIST, ban_list=("^.*",)), NOBODY) is None


@pytest.mark.parametrize(("emergency", "action"), [(True, Action.HOLD), (False, None)])
def test_emergency(emergency: bool, action: Action | None) -> None:
    policy = replace(LIST, emergency=emergency)
    assert_hit(rules.emergency(post(), policy, OWNER), rules.emergency, action)


@pytest.mark.parametrize(("posting_policy", "facts", "action"), [
    (PostingPolicy.MEMBERS, MEMBER, None),
    (PostingPolicy.MEMBERS, Facts(replace(MEMBER.sender, moderated=True)), Action.HOLD),
    (PostingPolicy.MEMBERS, Facts(replace(OWNER.sender, moderated=True)), Action.HOLD),
    (PostingPolicy.MODERATED, MEMBER, Action.HOLD),
    (PostingPolicy.MODERATED, Facts(replace(MEMBER.sender, role=None)), Action.HOLD),
    (PostingPolicy.MODERATED, MODERATOR, None),
    (PostingPolicy.MODERATED, OWNER, None),
    (PostingPolicy.ANNOUNCE, MEMBER, Action.HOLD),
    (PostingPolicy.ANNOUNCE, MODERATOR, None),
    (PostingPolicy.ANNOUNCE, OWNER, None),
    (PostingPolicy.MODERATED, NONMEMBER, None),  # nonmembers are the nonmember rule's
    (PostingPolicy.ANNOUNCE, Facts(replace(NONMEMBER.sender, moderated=True)), None),
])
def test_moderated_member(posting_policy: PostingPolicy, facts: Facts,
                          action: Action | None) -> None:
    policy = replace(LIST, posting_policy=posting_policy)
    hit = rules.moderated_member(post(), policy, facts)
    assert_hit(hit, rules.moderated_member, action)


EVE = b"From: eve@example.net\nTo: ops@example.com\nSubject: Offer\n"


@pytest.mark.parametrize(("settings", "facts", "action"), [
    ({}, NONMEMBER, Action.HOLD),
    ({}, MEMBER, None),
    ({"nonmember_action": Action.ACCEPT}, NONMEMBER, None),
    ({"nonmember_action": Action.REJECT}, NONMEMBER, Action.REJECT),
    ({"nonmember_action": Action.DISCARD}, NONMEMBER, Action.DISCARD),
    ({"accept_these_nonmembers": ("eve@example.net",)}, NONMEMBER, None),
    ({"accept_these_nonmembers": ("^.*@example\\.NET$",),
      "nonmember_action": Action.DISCARD}, NONMEMBER, None),
    ({"hold_these_nonmembers": ("eve@example.net",),
      "nonmember_action": Action.ACCEPT}, NONMEMBER, Action.HOLD),
    ({"reject_these_nonmembers": ("^eve@",)}, NONMEMBER, Action.REJECT),
    ({"discard_these_nonmembers": ("Eve@Example.net",)}, NONMEMBER, Action.DISCARD),
    # First match wins: accept, hold, reject, discard.
    ({"accept_these_nonmembers": ("^eve",), "discard_these_nonmembers": ("^eve",)},
     NONMEMBER, None),
    ({"hold_these_nonmembers": ("^eve",), "reject_these_nonmembers": ("^eve",)},
     NONMEMBER, Action.HOLD),
    ({"reject_these_nonmembers": ("^eve",), "discard_these_nonmembers": ("^eve",)},
     NONMEMBER, Action.REJECT),
    ({"reject_these_nonmembers": ("^(bad",), "nonmember_action": Action.ACCEPT},
     NONMEMBER, None),
    ({"reject_these_nonmembers": ("bob@example.net",)}, NONMEMBER, Action.HOLD),
])
def test_nonmember(settings: dict[str, object], facts: Facts, action: Action | None) -> None:
    policy = replace(LIST, **settings)  # type: ignore[arg-type]
    assert_hit(rules.nonmember(post(EVE), policy, facts), rules.nonmember, action)


@pytest.mark.parametrize(("nonmember_action", "action"), [
    (Action.ACCEPT, Action.HOLD),
    (Action.HOLD, Action.HOLD),
    (Action.REJECT, Action.HOLD),  # nobody to tell
    (Action.DISCARD, Action.DISCARD),
])
def test_a_post_without_a_valid_author_is_never_accepted(nonmember_action: Action,
                                                          action: Action) -> None:
    nobody = parse_post(b"From: not an address\nTo: ops@example.com\n\nhi\n", mail_from="")
    assert nobody.author == ""
    policy = replace(LIST, nonmember_action=nonmember_action, accept_these_nonmembers=("^.*",))
    hit = rules.nonmember(nobody, policy, NOBODY)
    assert_hit(hit, rules.nonmember, action)
    assert hit is not None and "no valid sender address" in hit.reason


@pytest.mark.parametrize(("limit_kb", "size", "action"), [
    (0, 10_000_000, None),
    (1, 1024, None),
    (1, 1025, Action.HOLD),
    (40, 40 * 1024 + 1, Action.HOLD),
    (40, 1000, None),
])
def test_max_size(limit_kb: int, size: int, action: Action | None) -> None:
    raw = HEADERS + b"\n" + BODY
    big = parse_post(raw + b"x" * (size - len(raw)))
    assert len(big.raw) == size
    policy = replace(LIST, max_message_kb=limit_kb)
    assert_hit(rules.max_size(big, policy, MEMBER), rules.max_size, action)


FROM = b"From: alice@example.org\nSubject: x\n"


@pytest.mark.parametrize(("headers", "limit", "action"), [
    (FROM + b"To: ops@example.com, a@example.org\nCc: b@example.org\n", 3, Action.HOLD),
    (FROM + b"To: ops@example.com, a@example.org\nCc: b@example.org\n", 4, None),
    (FROM + b"To: ops@example.com, a@example.org\nCc: b@example.org\n", 0, None),
    (FROM + b"To: ops@example.com, A@example.org\nCc: a@EXAMPLE.org\n", 3, None),  # distinct
    (FROM + b"To: ops@example.com\nTo: a@example.org\nCc: b@example.org, c@x.org\n", 4,
     Action.HOLD),
    (FROM + b"To: ops@example.com, garbage, <@>\n", 2, None),  # only valid addresses count
    (FROM + b"Bcc: a@example.org, b@example.org, c@example.org\n", 2, None),
])
def test_max_recipients(headers: bytes, limit: int, action: Action | None) -> None:
    policy = replace(LIST, max_recipients=limit)
    hit = rules.max_recipients(post(headers), policy, MEMBER)
    assert_hit(hit, rules.max_recipients, action)


@pytest.mark.parametrize(("headers", "required", "action"), [
    (FROM + b"To: ops@example.com\n", True, None),
    (FROM + b"To: Ops list <OPS@Example.COM>\n", True, None),
    (FROM + b"To: bob@example.org\nCc: ops@example.com\n", True, None),
    (FROM + b"To: crew@example.com\n", True, None),  # the old name, after a rename
    (FROM + b"To: bob@example.org\n", True, Action.HOLD),
    (FROM + b"To: ops-request@example.com\n", True, Action.HOLD),
    (FROM + b"To: undisclosed-recipients:;\n", True, Action.HOLD),
    (FROM, True, Action.HOLD),
    (FROM + b"Resent-To: ops@example.com\n", True, Action.HOLD),
    (FROM + b"To: bob@example.org\n", False, None),
])
def test_implicit_destination(headers: bytes, required: bool, action: Action | None) -> None:
    policy = replace(LIST, require_explicit_destination=required)
    hit = rules.implicit_destination(post(headers), policy, MEMBER)
    assert_hit(hit, rules.implicit_destination, action)


SPAMMY = HEADERS + b"X-Spam-Flag: YES\nX-Spam-Score: 9.1\nX-Mailer: Bulk 2000\n"


@pytest.mark.parametrize(("matches", "action"), [
    ((HeaderMatch("X-Spam-Flag", "^yes$", Action.DISCARD),), Action.DISCARD),
    ((HeaderMatch("x-spam-flag", "YES", Action.HOLD),), Action.HOLD),
    ((HeaderMatch("X-Mailer", "bulk", Action.REJECT),), Action.REJECT),
    ((HeaderMatch("Subject", "valve", Action.HOLD),), Action.HOLD),
    ((HeaderMatch("X-Spam-Flag", "no", Action.DISCARD),), None),
    ((HeaderMatch("X-Absent", ".*", Action.DISCARD),), None),
    ((HeaderMatch("X-Spam-Flag", "[unclosed", Action.DISCARD),), None),
    ((HeaderMatch("X-Spam-Flag", "[unclosed", Action.DISCARD),
      HeaderMatch("X-Mailer", "bulk", Action.HOLD)), Action.HOLD),
    # First match wins; an accept rule stops the search.
    ((HeaderMatch("X-Mailer", "bulk", Action.HOLD),
      HeaderMatch("X-Spam-Flag", "yes", Action.DISCARD)), Action.HOLD),
    ((HeaderMatch("X-Spam-Score", r"^9\.", Action.ACCEPT),
      HeaderMatch("X-Spam-Flag", "yes", Action.DISCARD)), None),
    ((HeaderMatch("X-Spam-Score", r"^1\.", Action.ACCEPT),
      HeaderMatch("X-Spam-Flag", "yes", Action.DISCARD)), Action.DISCARD),
    ((), None),
])
def test_header_match(matches: tuple[HeaderMatch, ...], action: Action | None) -> None:
    policy = replace(LIST, header_matches=matches)
    hit = rules.header_match(post(SPAMMY), policy, MEMBER)
    assert_hit(hit, rules.header_match, action)


def test_header_match_looks_at_every_occurrence_decoded() -> None:
    headers = HEADERS + b"Received: from a\nReceived: from spamhost.example\n" \
        b"X-Note: =?utf-8?q?caf=C3=A9?=\n"
    policy = replace(LIST, header_matches=(HeaderMatch("Received", "spamhost", Action.HOLD),
                                           HeaderMatch("X-Note", "café", Action.DISCARD)))
    assert_hit(rules.header_match(post(headers), policy, MEMBER), rules.header_match, Action.HOLD)
    policy = replace(policy, header_matches=policy.header_matches[1:])
    assert_hit(rules.header_match(post(headers), policy, MEMBER), rules.header_match,
               Action.DISCARD)


@pytest.mark.parametrize(("duplicate", "action"), [(True, Action.HOLD), (False, None)])
def test_duplicate_message_id(duplicate: bool, action: Action | None) -> None:
    facts = replace(MEMBER, duplicate=duplicate)
    hit = rules.duplicate_message_id(post(), LIST, facts)
    assert_hit(hit, rules.duplicate_message_id, action)


@pytest.mark.parametrize(("raw", "policy", "facts", "expected"), [
    (EVE, replace(LIST, ban_list=("eve@example.net",)), NONMEMBER, ["banned", "nonmember"]),
    (EVE + b"X-BeenThere: ops@example.com\n", replace(LIST, ban_list=("^eve",)), NONMEMBER,
     ["loop", "banned", "nonmember"]),
    (COMMAND + b"unsubscribe\n", replace(LIST, emergency=True), MEMBER,
     ["administrivia", "emergency"]),
    (HEADERS, replace(LIST, emergency=True, posting_policy=PostingPolicy.MODERATED), MEMBER,
     ["emergency", "moderated_member"]),
    (b"From: alice@example.org\nTo: bob@example.org\nSubject: x\n", LIST,
     replace(MEMBER, duplicate=True), ["implicit_destination", "duplicate_message_id"]),
    (EVE + b"X-Spam-Flag: yes\n",
     replace(LIST, header_matches=(HeaderMatch("X-Spam-Flag", "yes", Action.DISCARD),)),
     NONMEMBER, ["nonmember", "header_match"]),
])
def test_check_runs_every_rule_and_the_first_hit_comes_first(
        raw: bytes, policy: ListPolicy, facts: Facts, expected: list[str]) -> None:
    assert [hit.rule for hit in check(post(raw), policy, facts)] == expected


NASTY = [
    b"",
    b"\x00\x00\x00",
    b"\n\n\n",
    b"From: alice@example.org\nSubject: \xff\xfe caf\xe9 unsubscribe\nTo: ops@example.com\n"
    b"\nhi\x00there\n",
    b"From: not an address\nTo: <<<@@@>>>, \"unterminated\nCc: =?utf-8?b?!!!?=\n\nbody\n",
    b"From: <>\nSender: @\nTo: ops@\nList-Id: <\xff>\nX-BeenThere: \xff@\xff\n\nx\n",
    b"From: a@b.org\nContent-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\n"
    b"Content-Type: text/plain; charset=bogus-charset\n\nsubscribe\n--zz\n",
    b"Content-Type: multipart/alternative\n\nno boundary at all\n",
    b"Content-Type: text/plain; charset=\"=?x?q?y?=\"\nSubject: =?unknown-8bit?q?=FF?=\n\nx\n",
    b"Content-Type: text/plain; charset=rot13\nContent-Transfer-Encoding: base64\n\n!!!\xff\n",
    b"Content-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=a\n\n--a\n",
    b"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/mixed; "
    b"boundary=a\n\n--a\n--a--\n",
    b"Subject: =?utf-8?b?" + b"A" * 5000 + b"?=\nTo: " + b"x@y.org, " * 300 + b"\n\n",
    b"From: alice@example.org\n" + b"X-Long: " + b"a" * 100_000 + b"\n\nbody\n",
    b"\xff\xfe\x00H\x00e\x00l\x00l\x00o",
    b"From:\tAlice\n <alice@example.org>\nTo: ops@example.com\n\tcontinued\n\n> only quotes\n",
]

STRICT = replace(
    LIST, emergency=False, max_message_kb=1, max_recipients=3,
    posting_policy=PostingPolicy.ANNOUNCE, nonmember_action=Action.ACCEPT,
    ban_list=("^[unclosed", "^.*@b\\.org$", "not an address"),
    accept_these_nonmembers=("^(",), hold_these_nonmembers=("^.*@y\\.org$",),
    header_matches=(HeaderMatch("Subject", "[", Action.DISCARD),
                    HeaderMatch("X-Long", "a+$", Action.HOLD),
                    HeaderMatch("Content-Type", "rfc822", Action.REJECT)),
)


@pytest.mark.parametrize("raw", NASTY)
@pytest.mark.parametrize("facts", [MEMBER, NONMEMBER, NOBODY, replace(MEMBER, duplicate=True)])
def test_check_never_raises_on_nasty_messages(raw: bytes, facts: Facts) -> None:
    for policy in (LIST, STRICT):
        hits = check(parse_post(raw), policy, facts)
        assert all(isinstance(hit, Hit) and hit.action is not Action.ACCEPT for hit in hits)


def test_check_never_raises_on_mangled_messages() -> None:
    seeds = [HEADERS + b"\n" + BODY, NASTY[6], NASTY[11], COMMAND + b"unsubscribe\n\n"]
    pieces = [b"\n", b"\r\n", b"\x00", b"\xff", b":", b"<", b"@", b"=?", b"?=", b"--zz\n",
              b"\nContent-Type: multipart/mixed; boundary=zz\n", b"\nTo: ", b"charset=x"]
    randomly = random.Random(2919)
    for _ in range(400):
        raw = bytearray(randomly.choice(seeds))
        for _ in range(randomly.randint(1, 8)):
            at = randomly.randrange(len(raw) + 1)
            if randomly.random() < 0.3:
                del raw[at:at + randomly.randint(1, 8)]
            else:
                raw[at:at] = randomly.choice(pieces)
        for policy in (LIST, STRICT):
            check(parse_post(bytes(raw)), policy, NONMEMBER)
