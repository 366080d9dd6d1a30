# SPDX-License-Identifier: Apache-2.0
"""Text from mail made into HTML that cannot carry markup of its own.

Every function escapes the whole text first (quotes included) and only then
adds the few tags it means to: links around http, https and mailto URLs, and
<mark> around search matches. A URL is found in the escaped text and can hold
no quote or angle bracket, so it cannot leave the attribute it is put in.
"""

import html
import re

from listserv.core.search import MARK_END, MARK_START, unmarked

# In escaped text '&' only starts an entity: &amp; may be part of a URL, the
# escaped quotes and brackets (&quot; &#x27; &lt; &gt;) end it.
_URL = re.compile(r"\b(?:https?://|mailto:)[^\s&<>\"']*(?:&amp;[^\s&<>\"']*)*",
                  re.IGNORECASE)
_TRAILING = ".,;:!?*"  # sentence punctuation after a URL is not part of it
_SCHEME_ONLY = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)
_MARKED = re.compile(re.escape(MARK_START) + "([^" + MARK_START + MARK_END + "]*)"
                     + re.escape(MARK_END))


def _link(match: re.Match[str]) -> str:
    url = match.group(0)
    end = len(url)
    while end and (url[end - 1] in _TRAILING or (url[end - 1] == ")" and "(" not in url)):
        end -= 1
    url, rest = url[:end], url[end:]
    if _SCHEME_ONLY.fullmatch(url):
        return match.group(0)
    return f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>{rest}'


def linkify(text: str) -> str:
    """The text escaped for HTML, its http(s) and mailto URLs made links."""
    return _URL.sub(_link, html.escape(text, quote=True))


def highlighted(text: str) -> str:
    """The text escaped for HTML, what search markers enclose in <mark>; stray markers go."""
    pieces = []
    position = 0
    for match in _MARKED.finditer(text):
        pieces.append(html.escape(unmarked(text[position:match.start()])))
        pieces.append(f"<mark>{html.escape(match.group(1))}</mark>")
        position = match.end()
    pieces.append(html.escape(unmarked(text[position:])))
    return "".join(pieces)
