# SPDX-License-Identifier: Apache-2.0
"""HMAC tokens: what the key made verifies; anything altered, foreign or late does not."""

import pytest

from listserv.core import tokens, urls

KEY = b"k" * 32


def test_a_token_gives_back_its_fields() -> None:
    token = tokens.sign(KEY, "unsubscribe", ["7", "alice@example.org"])
    assert tokens.verify(KEY, "unsubscribe", token) == ("7", "alice@example.org")


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the tag
    lambda t: "X" + t[1:],  # the fields
    lambda t: t.replace(".", ""),  # no tag at all
    lambda t: t + "x",
    lambda t: "",
    lambda t: "a.b",
], ids=["tag", "fields", "no-tag", "trailing", "empty", "garbage"])
def test_an_altered_token_is_refused(tamper: object) -> None:
    token = tokens.sign(KEY, "unsubscribe", ["7", "alice@example.org"])
    assert tokens.verify(KEY, "unsubscribe", tamper(token)) is None  # type: ignore[operator]


def test_a_token_of_another_purpose_or_key_is_refused() -> None:
    token = tokens.sign(KEY, "signin", ["alice@example.org"])
    assert tokens.verify(KEY, "unsubscribe", token) is None
    assert tokens.verify(b"o" * 32, "signin", token) is None


def test_a_timed_token_expires() -> None:
    token = tokens.sign(KEY, "signin", ["alice@example.org"], issued=1000)
    assert tokens.verify(KEY, "signin", token, now=1000 + 900, max_age=900) == (
        "alice@example.org",)
    assert tokens.verify(KEY, "signin", token, now=1000 + 901, max_age=900) is None
    assert tokens.verify(KEY, "signin", token, now=999, max_age=900) is None  # from the future
    untimed = tokens.sign(KEY, "signin", ["alice@example.org"])
    assert tokens.verify(KEY, "signin", untimed, now=1000, max_age=900) is None


def test_a_short_tag_is_lower_case_and_stable() -> None:
    tag = tokens.short_tag(KEY, "verp", ["alice@example.org"])
    assert tag == tag.lower() and len(tag) == 10
    assert tag == tokens.short_tag(KEY, "verp", ["alice@example.org"])
    assert tag != tokens.short_tag(KEY, "verp", ["bob@example.org"])
    assert tokens.matches(tag.upper(), tag)


@pytest.mark.parametrize(("message_id", "path"), [
    ("<abc@example.org>", "/lists/ops@example.com/messages/abc%40example.org"),
    ("<a/b?c#d@example.org>", "/lists/ops@example.com/messages/a%2Fb%3Fc%23d%40example.org"),
    (" <x y@z> ", "/lists/ops@example.com/messages/x%20y%40z"),
])
def test_a_message_path_encodes_the_whole_message_id(message_id: str, path: str) -> None:
    assert urls.message_path("ops@example.com", message_id) == path


def test_urls_under_the_base_url() -> None:
    assert urls.absolute("https://lists.example.com/", urls.list_path("ops@example.com")) == \
        "https://lists.example.com/lists/ops@example.com/"
    assert urls.unsubscribe_path("T.K") == "/u/T.K"


@pytest.mark.parametrize(("url", "after"), [
    ("https://lists.example.com/lists/ops@example.com/",
     "https://lists.example.com/lists/opex@example.com/"),
    ("https://lists.example.com/lists/ops%40example.com/",
     "https://lists.example.com/lists/opex%40example.com/"),
    ("https://lists.example.com/lists/OPS@Example.com/",
     "https://lists.example.com/lists/opex@example.com/"),
    ("https://lists.example.com/lists/devops@example.com/",
     "https://lists.example.com/lists/devops@example.com/"),
    ("https://lists.example.com/lists/ops@example.com.au/",
     "https://lists.example.com/lists/ops@example.com.au/"),
    ("https://archive.example.com/ops/", "https://archive.example.com/ops/"),
    ("", ""),
])
def test_a_url_naming_a_renamed_list_follows_it(url: str, after: str) -> None:
    assert urls.moved(url, "ops@example.com", "opex@example.com") == after


def test_an_unsubscribe_token_names_the_list_and_the_member() -> None:
    token = tokens.unsubscribe_token(KEY, 7, "alice@example.org")
    assert tokens.read_unsubscribe_token(KEY, token) == (7, "alice@example.org")
    assert tokens.read_unsubscribe_token(KEY, tokens.sign(KEY, "unsubscribe", ["x"])) is None
    assert tokens.read_unsubscribe_token(b"o" * 32, token) is None


def test_the_members_pages_paths_are_built_in_one_place() -> None:
    assert urls.preferences_path("tok") == "/u/tok/preferences"
    assert urls.subscribe_path("ops@example.com") == "/lists/ops@example.com/subscribe"
    assert urls.signin_link_path("ops+x@example.com", "t") == "/lists/ops+x@example.com/signin/t"
    assert urls.held_post_path("ops@example.com", 7) == "/lists/ops@example.com/held/7"
