# SPDX-License-Identifier: Apache-2.0
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from listserv.core.personal import envelope_sender, personal_copy, personalization
from listserv.core.policy import ListPolicy, Personalize

POLICY = ListPolicy(address="ops@example.com", footer="Sent to {member_address}")
RAW = (b"From: alice@example.org\r\nTo: ops@example.com\r\nSubject: x\r\n"
       b"List-Unsubscribe: <mailto:ops-leave@example.com>\r\n\r\nHello\r\n")


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
    mode, footer = personalization(policy, chance)
    assert mode is expected
    assert footer == ("Sent to {member_address}" if expected is Personalize.FULL else "")


def test_a_personal_copy_names_its_member_in_footer_and_list_unsubscribe() -> None:
    copy = message_from_bytes(personal_copy(RAW, "Sent to {member_address}",
                                            "bob@example.net"), policy=default)
    assert isinstance(copy, EmailMessage)
    assert "Sent to bob@example.net" in copy.get_content()
    assert str(copy["List-Unsubscribe"]).strip() == \
        "<mailto:ops-leave@example.com?subject=unsubscribe%20bob@example.net>"


def test_an_address_that_cannot_be_encoded_keeps_the_plain_envelope_sender() -> None:
    assert envelope_sender("ops-bounces@example.com", "not an address") == \
        "ops-bounces@example.com"
    assert envelope_sender("ops-bounces@example.com", "bob@example.net") == \
        "ops-bounces+bob=example.net@example.com"
