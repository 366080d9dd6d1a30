# SPDX-License-Identifier: Apache-2.0
import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from urllib.parse import quote

import pytest

from listserv.core import verp
from listserv.core.personal import (
    BULK,
    MEMBER_FIELD,
    Copies,
    Personalization,
    digest_personalization,
    personalization,
    with_footer,
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
    full = Personalization(Personalize.FULL, "Sent to {member_address}")
    copy = parsed(Copies(RAW, BOUNCES, full, key=KEY, list_id=LIST_ID).copy(
        "bob@example.net").raw)
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


MAILTO = b"List-Unsubscribe: <mailto:ops-leave@example.com>\r\n"
HEAD = (b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: x\r\n"
        b"Message-ID: <x@example.org>\r\n" + MAILTO)
FOOTERS = ["Sent to {member_address}", "{member_address}\n{member_address} again",
           "Leave: ops-leave@example.com", "Sent to {member_address} — Grüße"]
BODIES = {
    "plain": b"Content-Type: text/plain\r\n\r\nHello\r\n.\r\n",
    "utf-8": b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n",
    "flowed": b"Content-Type: text/plain; format=flowed\r\n\r\nA long line \r\nends.\r\n",
    "quoted-printable": b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n",
    "base64": b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
              b"Content-Transfer-Encoding: base64\r\n\r\nR3LDvMOfZQ0K\r\n",
    "html": b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>Hello</p>\r\n",
    "alternative": b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n"
                   b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nHi\r\n--b\r\n"
                   b"Content-Type: text/html\r\n\r\n<p>Hi</p>\r\n--b--\r\n",
}
MEMBERS = ["bob@example.net", "b.o-b+list=x@sub.example.net", f"{'l' * 64}@{'d' * 180}.net",
           ">bob@example.net", "jürgen@müller.example", '"bob smith"@example.net']
_BOUNDARY = re.compile(rb"={15}\d+==")


def rendered_one_by_one(raw: bytes, footer: str, member: str) -> bytes:
    """The copy as listserv made each one before it cut a template: the post parsed, the
    member's footer added, rendered; its mailto: link naming the member."""
    made = with_footer(raw, footer.replace(MEMBER_FIELD, member))
    subject = quote(f"unsubscribe {member}", safe="@").encode()
    return made.replace(MAILTO, MAILTO[:-3] + b"?subject=" + subject + b">\r\n")


@pytest.mark.parametrize("footer", FOOTERS)
@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_copy_from_the_template_is_the_copy_rendered_on_its_own(footer: str,
                                                                  body: bytes) -> None:
    raw = HEAD + body
    copies = Copies(raw, BOUNCES, Personalization(Personalize.FULL, footer), key=KEY,
                    list_id=LIST_ID)
    for member in MEMBERS:
        made = copies.copy(member).raw
        # A footer part gets a boundary of its own each time it is rendered.
        assert _BOUNDARY.sub(b"B", made) == _BOUNDARY.sub(
            b"B", rendered_one_by_one(raw, footer, member)), member


def boundaries(raw: bytes) -> set[bytes]:
    return set(_BOUNDARY.findall(raw))


def test_copies_for_plain_addresses_share_one_rendering_the_others_are_rendered_each() -> None:
    raw = HEAD + BODIES["html"]  # the footer goes in a part of its own, with a new boundary
    copies = Copies(raw, BOUNCES, Personalization(Personalize.FULL, FOOTERS[0]), key=KEY,
                    list_id=LIST_ID)
    plain = [boundaries(copies.copy(member).raw) for member in MEMBERS[:3]]
    assert len(plain[0]) == 1 and all(found == plain[0] for found in plain)
    for member in MEMBERS[3:]:  # flowed text might stuff ">"; non-ASCII; a space
        assert boundaries(copies.copy(member).raw).isdisjoint(plain[0])


def test_the_template_is_not_used_where_the_footer_is_encoded() -> None:
    raw = HEAD + BODIES["quoted-printable"]
    stand_in = b"stand-in.invalid"
    copies = Copies(raw, BOUNCES, Personalization(Personalize.FULL, FOOTERS[0]), key=KEY,
                    list_id=LIST_ID)
    assert all(stand_in not in copies.copy(member).raw for member in MEMBERS)
