# SPDX-License-Identifier: Apache-2.0
"""Text from mail as HTML: escaped whole, then links and search marks added."""

import html
import re

import pytest

from listserv.core.markup import highlighted, linkify
from listserv.core.search import MARK_END, MARK_START


@pytest.mark.parametrize(("text", "expected"), [
    ("See https://example.org/a?b=1&c=2.",
     'See <a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">'
     'https://example.org/a?b=1&amp;c=2</a>.'),
    ("(http://example.org/x)", '(<a href="http://example.org/x" '
     'rel="nofollow noopener noreferrer">http://example.org/x</a>)'),
    ("https://en.wikipedia.org/wiki/Valve_(piping)", '<a href="https://en.wikipedia.org/wiki/'
     'Valve_(piping)" rel="nofollow noopener noreferrer">https://en.wikipedia.org/wiki/'
     'Valve_(piping)</a>'),
    ("mailto:ops@example.com", '<a href="mailto:ops@example.com" '
     'rel="nofollow noopener noreferrer">mailto:ops@example.com</a>'),
    ("HTTPS://EXAMPLE.ORG", '<a href="HTTPS://EXAMPLE.ORG" '
     'rel="nofollow noopener noreferrer">HTTPS://EXAMPLE.ORG</a>'),
    ("<b>bold</b> & 'quoted'", "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27;"),
    ("javascript:alert(1)", "javascript:alert(1)"),
    ("data:text/html,<script>", "data:text/html,&lt;script&gt;"),
    ("ftp://example.org/file", "ftp://example.org/file"),
    ("http:// nothing", "http:// nothing"),
    ("https://.", "https://."),
])
def test_linkify_escapes_then_links_only_web_and_mail_urls(text: str, expected: str) -> None:
    assert linkify(text) == expected


@pytest.mark.parametrize("text", [
    'https://example.org/"onmouseover="alert(1)',
    "https://example.org/'onmouseover='alert(1)",
    "https://example.org/<script>alert(1)</script>",
    'https://example.org/&quot;onmouseover=&quot;alert(1)',
    "https://example.org/\"><img src=x onerror=alert(1)>",
    "https://x.org/&#34;>",
])
def test_a_url_cannot_leave_its_attribute(text: str) -> None:
    result = linkify(text)
    hrefs = re.findall(r'<a href="([^"<>\']*)" rel="nofollow noopener noreferrer">', result)
    assert len(hrefs) == 1
    # Nothing but the link's own tags: every other bracket and quote stays escaped.
    rest = re.sub(r'<a href="[^"<>\']*" rel="nofollow noopener noreferrer">|</a>', "", result)
    assert not set(rest) & set("<>\"'")
    assert html.unescape(rest) == text


def test_highlighted_escapes_the_text_and_marks_the_matches() -> None:
    text = f"<b>{MARK_START}pump{MARK_END}</b> & {MARK_START}<i>{MARK_END} {MARK_END}x{MARK_START}"
    assert highlighted(text) == ("&lt;b&gt;<mark>pump</mark>&lt;/b&gt; &amp; "
                                 "<mark>&lt;i&gt;</mark> x")
