# SPDX-License-Identifier: Apache-2.0
from datetime import UTC, datetime

from listserv.core.policy import ListPolicy
from listserv.core.refusals import refused_post

POST = (b"From: alice@example.org\r\nSubject: [ops] Quarterly figures\r\n"
        b"Message-ID: <q3@example.org>\r\nList-Id: <ops.example.com>\r\n\r\nFigures.\r\n")


def test_the_owners_notice_names_the_post_and_the_reply_and_attaches_its_header() -> None:
    message = refused_post(ListPolicy(address="ops@example.com"), POST,
                           "554 5.6.0 Transaction failed", 40, to=["olga@example.org"],
                           message_id="<n@listserv.test>", now=datetime(2026, 3, 1, tzinfo=UTC))
    assert message["Subject"] == "The smarthost refused: [ops] Quarterly figures"
    assert message["Auto-Submitted"] == "auto-replied"
    assert "List-Id" not in message  # a notice, not list mail
    body = " ".join(message.get_body(("plain",)).get_content().split())
    assert "Message-ID: <q3@example.org>" in body
    assert "554 5.6.0 Transaction failed" in body
    assert "Delivery to 40 recipients failed for good" in body
    assert "Nobody's bounce score was raised" in body
    [attached] = message.iter_attachments()
    assert attached.get_content_type() == "text/rfc822-headers"
    assert "Figures." not in attached.get_content()
