# SPDX-License-Identifier: Apache-2.0
from datetime import UTC, datetime

import pytest

from listserv.core.commands import Command, Verb, parse
from listserv.core.decoration import render
from listserv.core.message import parse_post
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy, SubscriptionPolicy
from listserv.core.replies import reply_subject
from listserv.core.subscriptions import (
    Delivery,
    Request,
    Step,
    after_confirmation,
    approval_request,
    changed_delivery,
    command_answer,
    confirmation,
    declines,
    goodbye,
    help_text,
    info_text,
    invitation,
    joining,
    leaving,
    sender_of,
    welcome,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TOKEN = "0123456789abcdef0123456789abcdef"
POLICY = ListPolicy(address="ops@example.com", display_name="Operations Excellence",
                    description="Valves, pumps and the people who keep them running.",
                    list_id="ops.example.com", subject_prefix="[ops]")
OPEN, CONFIRM = SubscriptionPolicy.OPEN, SubscriptionPolicy.CONFIRM
MODERATE, BOTH = SubscriptionPolicy.MODERATE, SubscriptionPolicy.CONFIRM_THEN_MODERATE
REGULAR, MIME, PLAIN = DeliveryMode.REGULAR, DeliveryMode.DIGEST_MIME, DeliveryMode.DIGEST_PLAIN
NOMAIL = DeliveryMode.NOMAIL
ENABLED, BY_USER = DeliveryStatus.ENABLED, DeliveryStatus.DISABLED_BY_USER
BY_BOUNCE, BY_MODERATOR = DeliveryStatus.DISABLED_BY_BOUNCE, DeliveryStatus.DISABLED_BY_MODERATOR


@pytest.mark.parametrize(("policy", "by_self", "step"), [
    (OPEN, True, Step.NOW),
    (OPEN, False, Step.CONFIRM),  # nobody subscribes someone else unasked
    (CONFIRM, True, Step.CONFIRM),  # a From can be forged: double opt-in
    (CONFIRM, False, Step.CONFIRM),
    (MODERATE, True, Step.APPROVE),
    (MODERATE, False, Step.CONFIRM),
    (BOTH, True, Step.CONFIRM),
    (BOTH, False, Step.CONFIRM),
])
def test_what_a_subscription_request_leads_to(policy: SubscriptionPolicy, by_self: bool,
                                              step: Step) -> None:
    assert joining(policy, by_self) is step


@pytest.mark.parametrize(("policy", "kind", "step"), [
    (OPEN, Request.SUBSCRIBE, Step.NOW),
    (CONFIRM, Request.SUBSCRIBE, Step.NOW),
    (MODERATE, Request.SUBSCRIBE, Step.APPROVE),
    (BOTH, Request.SUBSCRIBE, Step.APPROVE),
    (BOTH, Request.INVITE, Step.NOW),  # the owners invited: no second approval
    (BOTH, Request.UNSUBSCRIBE, Step.NOW),
    (MODERATE, Request.DELIVERY, Step.NOW),
])
def test_what_a_confirmed_request_leads_to(policy: SubscriptionPolicy, kind: Request,
                                           step: Step) -> None:
    assert after_confirmation(policy, kind) is step


@pytest.mark.parametrize(("confirm", "by_self", "step"), [
    (True, True, Step.CONFIRM),  # a forged leave must remove nobody
    (True, False, Step.CONFIRM),
    (False, True, Step.NOW),
    (False, False, Step.CONFIRM),  # another address is still asked
])
def test_what_leaving_leads_to(confirm: bool, by_self: bool, step: Step) -> None:
    assert leaving(confirm, by_self) is step


def _post(from_header: bytes, mail_from: str) -> bytes:
    return from_header + b"To: ops-request@example.com\r\nSubject: help\r\n\r\nhelp\r\n"


@pytest.mark.parametrize(("raw", "mail_from", "address", "name", "direct"), [
    (b"From: Alice <Alice@Example.org>\r\n", "alice@example.org", "Alice@example.org", "Alice",
     True),
    (b"From: alice@example.org\r\n", "bounces+x@forwarder.example", "alice@example.org", "",
     False),
    (b"From: not an address\r\n", "bob@example.net", "bob@example.net", "", True),
    (b"", "bob@example.net", "bob@example.net", "", True),
    (b"From: alice@example.org\r\n", "", "alice@example.org", "", False),
    (b"From: =?utf-8?b?QWxpY2Ug4pyT?= <alice@example.org>\r\n", "alice@example.org",
     "alice@example.org", "Alice \u2713", True),
    (b"From: Caf\xe9 <alice@example.org>\r\n", "alice@example.org", "alice@example.org",
     "Caf\ufffd", True),  # the parser replaces the octet it cannot decode
])
def test_the_sender_is_the_from_address_else_the_envelope(
        raw: bytes, mail_from: str, address: str, name: str, direct: bool) -> None:
    sender = sender_of(parse_post(_post(raw, mail_from), mail_from))
    assert str(sender.mailbox) == address
    assert sender.name == name
    assert sender.answered_directly is direct
    assert sender.is_self(address.lower()) is direct
    assert not sender.is_self("someone@example.net")


def test_a_request_without_any_valid_address_has_no_sender() -> None:
    sender = sender_of(parse_post(_post(b"From: nobody\r\n", ""), ""))
    assert sender.mailbox is None
    assert not sender.answered_directly


@pytest.mark.parametrize(("lines", "declined"), [
    ([], False),  # an empty reply confirms
    (["yes"], False),
    (["No"], True),
    (["no."], True),
    (["Cancel!"], True),
    (["decline"], True),
    (["No problem, add me please"], False),  # only a bare no says no
    (["thanks", "no"], False),
])
def test_only_a_bare_no_declines(lines: list[str], declined: bool) -> None:
    assert declines(lines) is declined


@pytest.mark.parametrize(("current", "mode", "nomail", "after"), [
    (Delivery(REGULAR, ENABLED), PLAIN, None, Delivery(PLAIN, ENABLED)),
    (Delivery(MIME, BY_USER), REGULAR, None, Delivery(REGULAR, BY_USER)),
    (Delivery(MIME, ENABLED), None, True, Delivery(MIME, BY_USER)),
    (Delivery(MIME, BY_USER), None, False, Delivery(MIME, ENABLED)),
    (Delivery(NOMAIL, ENABLED), None, False, Delivery(REGULAR, ENABLED)),
    (Delivery(REGULAR, BY_BOUNCE), None, False, Delivery(REGULAR, ENABLED)),
    (Delivery(REGULAR, BY_MODERATOR), None, False, None),  # the moderators' stop holds
    (Delivery(REGULAR, BY_MODERATOR), None, True, Delivery(REGULAR, BY_MODERATOR)),
    (Delivery(REGULAR, BY_MODERATOR), MIME, None, Delivery(MIME, BY_MODERATOR)),
])
def test_set_commands_change_mode_and_status(current: Delivery, mode: DeliveryMode | None,
                                             nomail: bool | None,
                                             after: Delivery | None) -> None:
    assert changed_delivery(current, mode=mode, nomail=nomail) == after


def test_a_stopped_delivery_says_how_to_resume_it() -> None:
    assert "set nomail off" in Delivery(MIME, BY_USER).describe()
    assert Delivery(PLAIN, ENABLED).describe() == "plain-text digests"


@pytest.mark.parametrize(("kind", "requested_by", "policy", "says"), [
    (Request.SUBSCRIBE, "alice@example.org", POLICY,
     ["subscribe alice@example.org to the Operations Excellence list (ops@example.com), "
      "receiving plain-text digests"]),
    (Request.SUBSCRIBE, "bob@example.net", POLICY,
     ["subscribe alice@example.org", "The request came from bob@example.net."]),
    (Request.SUBSCRIBE, "alice@example.org", ListPolicy(address="ops@example.com",
                                                        subscription_policy=BOTH),
     ["After you confirm, the list's moderators decide on it."]),
    (Request.UNSUBSCRIBE, "alice@example.org", POLICY, ["unsubscribe alice@example.org from"]),
    (Request.DELIVERY, "alice@example.org", POLICY,
     ["have alice@example.org receive plain-text digests from the Operations Excellence list"]),
])
def test_a_confirmation_request_says_what_happens_and_how_to_confirm(
        kind: Request, requested_by: str, policy: ListPolicy, says: list[str]) -> None:
    message = confirmation(policy, kind, "alice@example.org", TOKEN, delivery=PLAIN,
                           requested_by=requested_by, expires_at=LATER,
                           message_id="<c@listserv.test>", now=NOW)
    body = " ".join(message.get_content().split())
    for text in says:
        assert text in body
    assert ("came from" in body) is (requested_by != "alice@example.org")
    assert "an empty reply will do" in body
    assert f"confirm {TOKEN}" in body
    assert "expires on 2026-03-04 12:00 UTC" in body
    assert message["To"] == "alice@example.org"
    assert message["Reply-To"] == f"ops-confirm+{TOKEN}@example.com"
    assert message["From"].addresses[0].addr_spec == f"ops-confirm+{TOKEN}@example.com"
    assert message["Auto-Submitted"] == "auto-replied"


@pytest.mark.parametrize(("delivery", "nomail", "says"), [
    (None, True, "stop mail from the Operations Excellence list (ops@example.com) to "
                 "alice@example.org, which stays a member"),
    (NOMAIL, None, "stop mail from the Operations Excellence list"),
    (None, False, "resume mail from the Operations Excellence list (ops@example.com) to "
                  "alice@example.org."),
    (REGULAR, None, "have alice@example.org receive each post as it is sent from"),
])
def test_a_delivery_change_is_confirmed_in_plain_words(
        delivery: DeliveryMode | None, nomail: bool | None, says: str) -> None:
    message = confirmation(POLICY, Request.DELIVERY, "alice@example.org", TOKEN,
                           delivery=delivery, nomail=nomail, requested_by="alice@example.org",
                           expires_at=LATER, message_id="<c@listserv.test>", now=NOW)
    assert says in " ".join(message.get_content().split())


def test_the_confirmation_subject_is_a_command_even_in_a_reply() -> None:
    message = confirmation(POLICY, Request.SUBSCRIBE, "alice@example.org", TOKEN,
                           delivery=REGULAR, requested_by="alice@example.org",
                           expires_at=LATER, message_id="<c@listserv.test>", now=NOW)
    subject = reply_subject(f"Re: AW: {message['Subject']}")
    assert parse(subject, []).items == (Command(Verb.CONFIRM, subject, token=TOKEN),)


def test_an_invitation_is_answered_at_its_own_address() -> None:
    message = invitation(POLICY, "dan@example.org", TOKEN, expires_at=LATER,
                         message_id="<i@listserv.test>", now=NOW)
    body = message.get_content()
    assert "invite dan@example.org" in body
    assert POLICY.description in body
    assert message["Reply-To"] == f"ops-confirm+{TOKEN}@example.com"


@pytest.mark.parametrize(("policy", "says", "never"), [
    (POLICY, ["Welcome to the Operations Excellence list!", POLICY.description], []),
    (ListPolicy(address="ops@example.com", description="Valves.",
                welcome_message="Hello from the rig crew.\nRead the FAQ first."),
     ["Hello from the rig crew.\nRead the FAQ first."], ["Valves."]),
])
def test_the_welcome_says_how_the_list_works(policy: ListPolicy, says: list[str],
                                             never: list[str]) -> None:
    body = welcome(policy, "alice@example.org", MIME, message_id="<w@listserv.test>",
                   now=NOW).get_content()
    for text in [*says, "You are subscribed as alice@example.org and receive digests (MIME).",
                 "To post, write to ops@example.com.", "To leave, write to ops-leave@example.com",
                 "set delivery digest-mime"]:
        assert text in body
    for text in never:
        assert text not in body


@pytest.mark.parametrize(("policy", "says"), [
    (POLICY, "alice@example.org is no longer a member of the Operations Excellence list"),
    (ListPolicy(address="ops@example.com", goodbye_message="Fair winds."), "Fair winds."),
])
def test_the_goodbye_is_the_lists_own_text_or_the_standard_one(policy: ListPolicy,
                                                               says: str) -> None:
    body = goodbye(policy, "alice@example.org", message_id="<g@listserv.test>",
                   now=NOW).get_content()
    assert says in body
    assert "ops-join@example.com" in body


def test_help_names_every_command_and_the_join_and_leave_addresses() -> None:
    text = help_text(POLICY)
    for word in ["help", "info", "subscribe", "unsubscribe", "set delivery", "set nomail",
                 "who", "confirm TOKEN", "end", "ops-join@example.com",
                 "ops-leave@example.com", "ops-request@example.com"]:
        assert word in text


@pytest.mark.parametrize(("policy", "says"), [
    (POLICY, ["Operations Excellence <ops@example.com>", POLICY.description,
              "anyone may join, confirming by mail", "members post freely",
              "Member list: private."]),
    (ListPolicy(address="ops@example.com", subscription_policy=MODERATE,
                archive_url="https://lists.example.com/ops"),
     ["(The list has no description.)", "the moderators approve each new member",
      "Archive: https://lists.example.com/ops"]),
])
def test_info_describes_the_list(policy: ListPolicy, says: list[str]) -> None:
    text = info_text(policy)
    for expected in says:
        assert expected in text


@pytest.mark.parametrize(("regarding", "subject"), [
    ("help", "Re: help"),
    ("", "The results of your message to ops-request@example.com"),
    ("caf\udce9 \udcff", "Re: caf? ?"),  # 8-bit header octets, as the parser keeps them
])
def test_a_command_answer_renders_whatever_the_subject(regarding: str, subject: str) -> None:
    message = command_answer(POLICY, "alice@example.org", "results\n", found=True,
                             regarding=regarding, message_id="<a@listserv.test>", now=NOW)
    assert parse_post(render(message)).subject == subject


def test_an_answer_without_commands_points_to_help() -> None:
    message = command_answer(POLICY, "alice@example.org", "- Done.\n", found=False,
                             regarding="hello", message_id="<a@listserv.test>", now=NOW)
    assert message.get_content().startswith("No commands were found")


def test_moderators_answer_a_subscription_request_as_a_held_post() -> None:
    message = approval_request(POLICY, "dan@example.org", TOKEN, how="confirmed by mail",
                               to=["mo@example.org"], expires_at=LATER,
                               message_id="<m@listserv.test>", now=NOW)
    assert message["Reply-To"] == f"ops-confirm+{TOKEN}@example.com"
    assert message["Subject"] == "[ops] Subscription request: dan@example.org"
    assert message["In-Reply-To"] == "<moderation@ops.example.com>"
    assert "approve" in message.get_content() and "reject REASON" in message.get_content()
