# SPDX-License-Identifier: Apache-2.0
"""HTML laid out as plain text (inscriptis), the HtmlToText that content filtering is handed.

A link keeps its address as text: "[the report](https://example.org/r)".
"""

from inscriptis import get_text
from inscriptis.model.config import ParserConfig

_CONFIG = ParserConfig(display_links=True)


def html_to_text(html: str) -> str:
    """The text of an HTML document, with its layout (paragraphs, lists, tables) kept."""
    return str(get_text(html, _CONFIG))
