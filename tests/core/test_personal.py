# SPDX-License-Identifier: Apache-2.0
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from listserv.core import verp
from listserv.core.personal import (
    BULK,
    Copies,
    Personalization,
    digest_personalization,
    personal_copy,
    personalization,
)
from listserv.core.policy import ListPolicy, Personalize
from listserv.core.tokens import read_unsubscribe_token

KEY = b"k" * 32
LIST_ID = 4
BASE = "https://lists.example.com"
BOUNCES = "ops-bounces@example.com"
POLICY = ListPolicy(address="ops@example.com", footer="Sent to {member_address}")
ONE_CLICK = Personalization(Personalize.VERP, "", BASE)
RAW = (b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: x\r\n"
       b"List-Unsubscribe: <mailto:ops-leave@example.com>\r\nList-Owner: <mailto:o@x>\r\n"
       b"\r\nHello\r\nList-Unsubscribe: in the body\r\n")


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize(("personalize", "every", "chance", "expected"), [
    (Personalize.NONE, 0, 0.0, Personalize.NONE),
    (Personalize.NONE, 10, 0.05, Personalize.VERP),
    (Personalize.NONE, 10, 0.5, Personalize.NONE),
    (Personalize.VERP, 0, 0.5, Personalize.VERP),
    (Personalize.FULL, 10, 0.0, Personalize.FULL),
])
def test_personalization(personalize: Personalize, every: int, chance: float,
                         expected: Personalize) -> None:
    policy = ListPolicy(address="ops@example.com", personalize=personalize,
                        verp_probe_every=every, footer="Sent to {member_address}")
    chosen = personalization(policy, chance)
    assert chosen.mode is expected and chosen.web_url == ""
    assert chosen.footer == ("Sent to {member_address}" if expected is Personalize.FULL else "")


@pytest.mark.parametrize(("personalize", "web_url", "one_click", "expected"), [
    (Personalize.NONE, BASE, True, Personalization(Personalize.VERP, "", BASE)),
    (Personalize.NONE, BASE, False, BULK),
    (Personalize.NONE, "", True, BULK),
    (Personalize.VERP, BASE, True, Personalization(Personalize.VERP, "", BASE)),
    (Personalize.FULL, BASE, True, Personalization(Personalize.FULL, "Sent to {member_address}",
                                                   BASE)),
])
def test_with_a_web_side_and_one_click_every_post_goes_out_a_copy_per_member(
        personalize: Personalize, web_url: str, one_click: bool,
        expected: Personalization) -> None:
    policy = ListPolicy(address="ops@example.com", personalize=personalize, web_url=web_url,
                        one_click_unsubscribe=one_click, footer="Sent to {member_address}")
    assert personalization(policy, 0.5) == expected


@pytest.mark.parametrize(("personalize", "web_url", "expected"), [
    (Personalize.NONE, "", BULK),
    (Personalize.FULL, "", Personalization(Personalize.VERP)),
    (Personalize.NONE, BASE, Personalization(Personalize.VERP, "", BASE)),
    (Personalize.FULL, BASE, Personalization(Personalize.VERP, "", BASE)),
])
def test_digests_go_out_with_verp_and_one_click_but_no_personal_footer(
        personalize: Personalize, web_url: str, expected: Personalization) -> None:
    policy = ListPolicy(address="ops@example.com", personalize=personalize, web_url=web_url,
                        footer="Sent to {member_address}")
    assert digest_personalization(policy) == expected


def test_a_personal_copy_names_its_member_in_footer_and_list_unsubscribe() -> None:
    copy = parsed(personal_copy(RAW, "Sent to {member_address}", "bob@example.net"))
    assert "Sent to bob@example.net" in copy.get_content()
    assert str(copy["List-Unsubscribe"]).strip() == \
        "<mailto:ops-leave@example.com?subject=unsubscribe%20bob@example.net>"


def test_each_copy_carries_its_members_one_click_link_in_the_shared_bytes() -> None:
    copies = Copies(RAW, BOUNCES, ONE_CLICK, key=KEY, list_id=LIST_ID)
    assert copies.varies
    copy = copies.copy("Bob@Example.net")
    assert copy.mail_from == verp.sender(BOUNCES, "Bob@Example.net", KEY, LIST_ID)
    head, _, body = copy.raw.partition(b"\r\n\r\n")
    assert body == RAW.partition(b"\r\n\r\n")[2]
    lines = head.split(b"\r\n")
    start = lines.index(next(line for line in lines if line.startswith(b"List-Unsubscribe:")))
    assert lines[:start] == RAW.split(b"\r\n")[:3]
    assert lines[start + 1:] == [b" <mailto:ops-leave@example.com>",
                                 b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                 b"List-Owner: <mailto:o@x>"]
    link = lines[start].removeprefix(b"List-Unsubscribe: <").removesuffix(b">,").decode()
    assert link.startswith(f"{BASE}/u/")
    assert read_unsubscribe_token(KEY, link.rpartition("/")[2]) == (LIST_ID, "bob@example.net")
    message = parsed(copy.raw)
    assert message.get_all("List-Unsubscribe") == [f"<{link}>, <mailto:ops-leave@example.com>"]
    assert copies.copy("carol@example.org").raw != copy.raw


def test_without_a_web_side_every_copy_is_the_shared_bytes_with_its_own_sender() -> None:
    copies = Copies(RAW, BOUNCES, Personalization(Personalize.VERP), key=KEY, list_id=LIST_ID)
    assert not copies.varies
    copy = copies.copy("bob@example.net")
    assert copy.raw is RAW
    assert copy.mail_from == verp.sender(BOUNCES, "bob@example.net", KEY, LIST_ID)


def test_a_full_copy_has_footer_and_one_click_link_before_its_members_mailto() -> None:
    full = Personalization(Personalize.FULL, "Sent to {member_address}", BASE)
    copy = Copies(RAW, BOUNCES, full, key=KEY, list_id=LIST_ID).copy("bob@example.net")
    message = parsed(copy.raw)
    assert "Sent to bob@example.net" in message.get_content()
    [value] = message.get_all("List-Unsubscribe")
    assert value.startswith(f"<{BASE}/u/")
    assert value.endswith(", <mailto:ops-leave@example.com?subject=unsubscribe%20bob@example.net>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_full_copy_without_a_footer_still_names_its_member_in_list_unsubscribe() -> None:
    copies = Copies(RAW, BOUNCES, Personalization(Personalize.FULL), key=KEY, list_id=LIST_ID)
    assert copies.varies
    message = parsed(copies.copy("bob@example.net").raw)
    assert str(message["List-Unsubscribe"]).strip() == \
        "<mailto:ops-leave@example.com?subject=unsubscribe%20bob@example.net>"


@pytest.mark.parametrize(("raw", "mailto"), [
    (b"Subject: x\r\nList-Unsubscribe:\r\n <mailto:ops-leave@example.com>\r\n\tnoise\r\n"
     b"To: y\r\n\r\nbody\r\n", "<mailto:ops-leave@example.com> noise"),
    (b"list-unsubscribe: <mailto:a@b.example>\r\nSubject: x\r\n\r\nbody\r\n",
     "<mailto:a@b.example>"),
    (b"Subject: x\r\nTo: y\r\n\r\nbody\r\n", None),
    (b"Subject: x\r\nList-Unsubscribe: <mailto:a@b.example>", "<mailto:a@b.example>"),
])
def test_the_list_unsubscribe_field_is_replaced_whole_wherever_it_is(
        raw: bytes, mailto: str | None) -> None:
    copy = Copies(raw, BOUNCES, ONE_CLICK, key=KEY, list_id=LIST_ID).copy("bob@example.net")
    message = parsed(copy.raw)
    [value] = message.get_all("List-Unsubscribe")
    assert value.startswith(f"<{BASE}/u/") and value.endswith(f">, {mailto}" if mailto else ">")
    assert message.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert str(message["Subject"]) == "x"


def test_a_plain_http_link_gets_no_list_unsubscribe_post() -> None:
    copy = Copies(RAW, BOUNCES, Personalization(Personalize.VERP, "", "http://localhost:8080"),
                  key=KEY, list_id=LIST_ID).copy("bob@example.net")
    message = parsed(copy.raw)
    assert str(message["List-Unsubscribe"]).startswith("<http://localhost:8080/u/")
    assert message["List-Unsubscribe-Post"] is None


@pytest.mark.parametrize(("member", "list_id"), [("not an address", LIST_ID),
                                                 ("bob@example.net", None)])
def test_without_an_address_or_a_list_to_sign_for_the_copy_is_shared_and_plain(
        member: str, list_id: int | None) -> None:
    copy = Copies(RAW, BOUNCES, ONE_CLICK, key=KEY, list_id=list_id).copy(member)
    assert (copy.mail_from, copy.raw) == (BOUNCES, RAW)
