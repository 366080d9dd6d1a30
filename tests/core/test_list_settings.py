# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.filtering import FilterAction, FilterSigned
from listserv.core.list_settings import (
    LIST_SETTINGS,
    MEMBER_SETTINGS,
    parse_assignments,
    parse_values,
)
from listserv.core.policy import Action, ArchiveAddresses, DeliveryMode, DigestAttachments
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
    ("display_name=a\x00b", "display_name: contains a NUL character or a lone surrogate"),
    ("footer=a\udc00", "footer: contains a NUL character or a lone surrogate"),
    ("strip_headers=[1]", "expected header names, got 1"),
    ("filter_types=image/", "filter_types: expected a MIME type such as image/png"),
    ("pass_types=text/plain; charset=utf-8", "expected a MIME type"),
    ("filter_extensions=tar.gz", "filter_extensions: expected a file name extension"),
    ("filter_action=bounce", "filter_action: expected one of discard|hold|reject|forward"),
    ("filter_signed=verify", "filter_signed: expected one of keep|strip"),
    ("digest_attachments=drop", "digest_attachments: expected one of list|keep"),
])
def test_bad_settings_name_the_problem(assignment: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        parse_assignments([assignment], LIST_SETTINGS)


@pytest.mark.parametrize(("name", "text"), [
    ("strip_headers", "X-Spam, X-Junk"), ("strip_headers", '["X-Spam", "X-Junk"]'),
    ("dmarc_always", "Bank.example, ceo@Corp.example"),
    ("dmarc_always", '["Bank.example", "ceo@Corp.example"]'),
    ("ban_list", "spam@example.net, ^.*@junk\\.example$"),
    ("ban_list", '["spam@example.net", "^.*@junk\\\\.example$"]'),
])
def test_lists_of_values_are_comma_separated_or_a_json_array(name: str, text: str) -> None:
    expected = {"strip_headers": ["X-Spam", "X-Junk"],
                "dmarc_always": ["bank.example", "ceo@corp.example"],
                "ban_list": ["spam@example.net", "^.*@junk\\.example$"]}[name]
    assert parse_values([(name, text)], LIST_SETTINGS) == {name: expected}


def test_content_filter_settings_are_parsed_to_lower_case_names_without_dots() -> None:
    values = parse_assignments(
        ["filter_content=on", "filter_types=Image, application/X-MSDownload, image",
         "pass_types=", "filter_extensions=.EXE,scr, bat", "filter_action=Forward",
         "filter_signed=strip", "collapse_alternatives=no", "digest_attachments=keep"],
        LIST_SETTINGS)
    assert values == {"filter_content": True,
                      "filter_types": ["image", "application/x-msdownload"],
                      "pass_types": [], "filter_extensions": ["exe", "scr", "bat"],
                      "filter_action": FilterAction.FORWARD, "filter_signed": FilterSigned.STRIP,
                      "collapse_alternatives": False,
                      "digest_attachments": DigestAttachments.KEEP}
