# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.list_settings import LIST_SETTINGS, MEMBER_SETTINGS, parse_assignments
from listserv.core.policy import Action, ArchiveAddresses, DeliveryMode
from listserv.errors import SettingError


def test_values_are_parsed_to_their_types() -> None:
    values = parse_assignments(
        ["nonmember_action=Reject", "emergency=yes", "max_recipients=25",
         "footer=one\\ntwo", "timezone=Europe/Oslo", "reply_to_address="], LIST_SETTINGS)
    assert values == {"nonmember_action": Action.REJECT, "emergency": True,
                      "max_recipients": 25, "footer": "one\ntwo",
                      "timezone": "Europe/Oslo", "reply_to_address": ""}


@pytest.mark.parametrize(("text", "value"), [
    ("obfuscate", ArchiveAddresses.OBFUSCATE), ("HIDE", ArchiveAddresses.HIDE),
    (" show ", ArchiveAddresses.SHOW),
])
def test_how_the_archive_shows_addresses(text: str, value: ArchiveAddresses) -> None:
    assert parse_assignments([f"archive_addresses={text}"], LIST_SETTINGS) == {
        "archive_addresses": value}


def test_member_delivery_mode() -> None:
    assert parse_assignments(["delivery_mode=digest-plain"], MEMBER_SETTINGS) == {
        "delivery_mode": DeliveryMode.DIGEST_PLAIN}


@pytest.mark.parametrize(("assignment", "message"), [
    ("colour=red", "unknown setting 'colour'"),
    ("emergency", "expected key=value"),
    ("emergency=perhaps", "emergency: expected true or false"),
    ("max_recipients=lots", "max_recipients: expected a whole number"),
    ("digest_hour=24", "digest_hour: expected a number from 0 to 23"),
    ("nonmember_action=bounce", "expected one of hold|reject|discard|accept"),
    ("archive_addresses=mask", "archive_addresses: expected one of obfuscate|hide|show"),
    ("timezone=Mars/Olympus", "unknown time zone"),
    ("reply_to_address=nobody", "not an address"),
    ("archive_url=ftp://x", r"expected an http\(s\) URL"),
    ("list_id=nodots", "expected a dotted List-Id"),
    ("subject_prefix=a\nb", "expected a single line"),
    ("moderator_password=short", "at least 8 characters"),
])
def test_bad_settings_name_the_problem(assignment: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        parse_assignments([assignment], LIST_SETTINGS)
