# SPDX-License-Identifier: Apache-2.0
"""What the web side believes of a browser: the origin of a form, a redirect target, and the
client a rate limit counts."""

import pytest

from listserv.core.websafety import client_network, local_path, same_origin

SITE = "https://lists.example.com"


@pytest.mark.parametrize(("source", "host", "same"), [
    ("https://lists.example.com", "127.0.0.1:8080", True),  # the base URL, behind a proxy
    ("https://LISTS.example.com/", "", True),
    ("https://lists.example.com/u/abc/preferences", "", True),  # a Referer
    ("http://127.0.0.1:8080", "127.0.0.1:8080", True),  # no proxy: the host asked for
    ("http://lists.example.com", "127.0.0.1:8080", False),  # another scheme
    ("https://lists.example.com:8443", "127.0.0.1:8080", False),  # another port
    ("https://evil.example", "127.0.0.1:8080", False),
    ("https://lists.example.com.evil.example", "", False),
    ("null", "127.0.0.1:8080", False),  # a sandboxed or privacy-stripped origin
    ("", "127.0.0.1:8080", False),
    ("javascript:alert(1)", "", False),
])
def test_a_form_is_from_this_site_only_by_its_origin(source: str, host: str,
                                                     same: bool) -> None:
    assert same_origin(source, site=SITE, host=host) is same


def test_without_a_base_url_the_host_decides() -> None:
    assert same_origin("http://localhost:8080", site="", host="localhost:8080")
    assert not same_origin("http://localhost:8080", site="", host="")


@pytest.mark.parametrize(("target", "kept"), [
    ("/lists/ops@example.com/held", True),
    ("/lists/ops@example.com/?q=valve%20seals", True),
    ("https://evil.example/", False),
    ("//evil.example/x", False),
    ("/\\evil.example", False),
    ("\\\\evil.example", False),
    ("javascript:alert(1)", False),
    ("/with space", False),
    ("/line\nbreak", False),
    ("", False),
    ("/" + "a" * 600, False),
])
def test_a_redirect_goes_only_to_a_path_of_this_site(target: str, kept: bool) -> None:
    assert local_path(target) == (target if kept else None)


@pytest.mark.parametrize(("host", "counted"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::5", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("unknown", "unknown"),
])
def test_a_client_is_counted_by_its_address_or_its_ipv6_64(host: str, counted: str) -> None:
    assert client_network(host) == counted
