# SPDX-License-Identifier: Apache-2.0
"""The subjects of every notice listserv writes, and the post a rejection sends back."""

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from listserv.core import bouncing, moderation, subscriptions
from listserv.core.message import parse_post
from listserv.core.moderation import HeldPost
from listserv.core.notices import NOTICE_ROOM, rejection
from listserv.core.policy import BounceRules, DeliveryMode, ListPolicy
from listserv.core.replies import answer_subject

POLICY = ListPolicy(address="ops@example.com", display_name="Operations Excellence",
                    list_id="ops.example.com", subject_prefix="[ops]")
BARE = replace(POLICY, display_name="", subject_prefix="")  # every optional part empty
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
IDS = {"message_id": "<n1@example.com>", "now": NOW}
TO = ["mo@example.org"]
ADDRESS = "alice@example.org"


def post_with(subject: str, body: bytes = b"Pressure holds at 40 bar.\r\n") -> bytes:
    return (f"From: Alice <{ADDRESS}>\r\nTo: ops@example.com\r\nSubject: {subject}\r\n"
            "Message-ID: <p1@example.org>\r\n\r\n").encode() + body


def held(subject: str) -> HeldPost:
    return HeldPost(7, "a" * 32, ADDRESS, subject, ("not a member",), NOW, NOW, 2048)


Builder = Callable[[ListPolicy, str], EmailMessage]
# Every notice builder, given the subject of the message it is about where it has one.
BUILDERS: dict[str, Builder] = {
    "rejection": lambda p, s: rejection(parse_post(post_with(s), ADDRESS), p, ["No."],
                                        size_limit=1 << 20, **IDS),
    "held_notice": lambda p, s: moderation.held_notice(p, held(s), post_with(s), to=TO,
                                                       size_limit=1 << 20, **IDS),
    "held_summary": lambda p, s: moderation.held_summary(p, [held(s)], to=TO, **IDS),
    "author_notice": lambda p, s: moderation.author_notice(p, held(s), "b" * 32, why=["No."],
                                                           to=ADDRESS, **IDS),
    "answer": lambda p, s: moderation.answer(p, ADDRESS, "Done.", regarding=s, **IDS),
    "expiry_report": lambda p, s: moderation.expiry_report(p, [held(s)], "discard", to=TO,
                                                           **IDS),
    "flood_notice": lambda p, s: moderation.flood_notice(p, 50, 60, to=TO, **IDS),
    "confirmation": lambda p, s: subscriptions.confirmation(
        p, subscriptions.Request.SUBSCRIBE, ADDRESS, "c" * 32, delivery=DeliveryMode.REGULAR,
        requested_by=ADDRESS, expires_at=NOW, **IDS),
    "invitation": lambda p, s: subscriptions.invitation(p, ADDRESS, "c" * 32, expires_at=NOW,
                                                        **IDS),
    "already_member": lambda p, s: subscriptions.already_member(p, ADDRESS, **IDS),
    "welcome": lambda p, s: subscriptions.welcome(p, ADDRESS, DeliveryMode.REGULAR, **IDS),
    "goodbye": lambda p, s: subscriptions.goodbye(p, ADDRESS, **IDS),
    "owner_notice": lambda p, s: subscriptions.owner_notice(p, ADDRESS, True, "by mail",
                                                            to=TO, **IDS),
    "approval_request": lambda p, s: subscriptions.approval_request(
        p, ADDRESS, "c" * 32, how="by mail", to=TO, expires_at=NOW, **IDS),
    "declined": lambda p, s: subscriptions.declined(p, ADDRESS, "", **IDS),
    "command_answer": lambda p, s: subscriptions.command_answer(
        p, ADDRESS, "> help\nDone.", found=True, regarding=s, **IDS),
    "bounce_warning": lambda p, s: bouncing.warning(p, ADDRESS, 1, BounceRules(), **IDS),
    "bounce_removal": lambda p, s: bouncing.removal(p, ADDRESS, **IDS),
    "bounce_owners_notice": lambda p, s: bouncing.owners_notice(
        p, ADDRESS, "delivery disabled", "Five bounces.", to=TO, **IDS),
    "bounce_summary": lambda p, s: bouncing.summary(p, [], 0, to=TO, **IDS),
    "unrecognised_bounce": lambda p, s: bouncing.unrecognised(p, post_with(s), to=TO, **IDS),
}
SUBJECTS = ["Valve seals", "Re: help", "RE: Aw: help", "Sv: help", "", "   ", "Re:"]
DOUBLE_REPLY = re.compile(r"\b(?:re|aw|sv|antw)\s*:\s*(?:re|aw|sv|antw)\s*:", re.IGNORECASE)


@pytest.mark.parametrize("policy", [POLICY, BARE], ids=["named", "bare"])
@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_no_notice_subject_starts_with_a_space_or_says_re_twice(
        name: str, subject: str, policy: ListPolicy) -> None:
    written = str(BUILDERS[name](policy, subject)["Subject"])
    assert written and written == written.strip() and "  " not in written
    # A notice about a post quotes its subject as written; what listserv adds is checked.
    if not subject.strip().endswith(":"):
        assert not written.endswith(":")
    if not DOUBLE_REPLY.search(subject):
        assert not DOUBLE_REPLY.search(written)


@pytest.mark.parametrize(("regarding", "subject"), [
    ("help", "Re: help"),
    ("Re: help", "Re: help"),
    ("RE: help", "Re: help"),
    ("Aw: AW: help", "Re: help"),
    ("Sv: help", "Re: help"),
    ("Re[2]: help", "Re: help"),
    ("  Re:   set   digest  ", "Re: set digest"),
    ("", "the fallback"),
    ("Re: ", "the fallback"),
])
def test_an_answer_subject_has_re_once(regarding: str, subject: str) -> None:
    assert answer_subject(regarding, "the fallback") == subject


@pytest.mark.parametrize("name", ["answer", "command_answer"])
def test_answers_by_mail_keep_the_subject_with_re_once(name: str) -> None:
    assert BUILDERS[name](POLICY, "Re: help")["Subject"] == "Re: help"
    assert BUILDERS[name](POLICY, "AW: Re: help")["Subject"] == "Re: help"


def test_a_rejection_of_a_post_without_subject_names_only_the_list() -> None:
    assert BUILDERS["rejection"](POLICY, "")["Subject"] == \
        "Your message to Operations Excellence was rejected"
    assert BUILDERS["author_notice"](BARE, "")["Subject"] == \
        "Your message to ops@example.com awaits moderation"


def attached(message: EmailMessage) -> EmailMessage:
    [part] = [part for part in message.iter_parts() if part.get_content_type() != "text/plain"
              or part.get_content_disposition() == "inline"]
    return part


def test_a_rejection_sends_the_post_back_whole_within_the_size_limit() -> None:
    body = b"Pressure holds at 40 bar.\r\n" + "Grüße\r\n".encode() * 3000
    raw = post_with("Valve seals", body)
    notice = rejection(parse_post(raw, ADDRESS), POLICY, ["No."],
                       size_limit=len(raw) + NOTICE_ROOM, **IDS)
    part = attached(notice)
    assert part.get_content_type() == "message/rfc822"
    assert part.get_content().get_payload(decode=True) == body
    assert "left out" not in notice.get_body(("plain",)).get_content()


def test_a_rejection_too_large_to_send_back_carries_the_headers_and_says_so() -> None:
    raw = post_with("Valve seals", b"x" * 70_000 + b"\r\n")
    notice = rejection(parse_post(raw, ADDRESS), POLICY, ["No."],
                       size_limit=len(raw) + NOTICE_ROOM - 1, **IDS)
    part = attached(notice)
    assert part.get_content_type() == "text/rfc822-headers"
    assert "Subject: Valve seals" in part.get_content() and "xxxx" not in part.get_content()
    text = " ".join(notice.get_body(("plain",)).get_content().split())
    assert "Your message (69 KB) is too large to send back whole" in text
    assert "its body is left out" in text


def test_a_held_notice_attaches_the_post_whole_within_the_size_limit() -> None:
    raw = post_with("Valve seals", b"Pressure holds at 40 bar.\r\n" * 3000)
    notice = moderation.held_notice(POLICY, held("Valve seals"), raw, to=TO,
                                    size_limit=len(raw) + NOTICE_ROOM, **IDS)
    assert attached(notice).get_content().as_bytes().count(b"40 bar") == 3000
    assert "cut" not in notice.get_body(("plain",)).get_content()


@pytest.mark.parametrize("size_limit", [200_000, 40_000])
def test_a_held_notice_past_the_size_limit_attaches_a_copy_cut_at_a_line_and_says_so(
        size_limit: int) -> None:
    raw = post_with("Valve seals", b"Pressure holds at 40 bar.\r\n" * (size_limit // 27))
    notice = moderation.held_notice(POLICY, held("Valve seals"), raw, to=TO,
                                    size_limit=size_limit, **IDS)
    assert len(notice.as_bytes()) <= size_limit
    copy = attached(notice).get_content()
    assert copy["Subject"] == "Valve seals"
    lines = copy.get_payload(decode=True).splitlines()
    assert 0 < len(lines) < size_limit // 27 and set(lines) == {b"Pressure holds at 40 bar."}
    text = " ".join(notice.get_body(("plain",)).get_content().split())
    assert "The post is too large to attach whole to this notice: the attached copy is cut " \
           "after its first" in text
