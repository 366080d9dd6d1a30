# SPDX-License-Identifier: Apache-2.0
"""The web side's public URLs, built in one place for the pages and for the mail that
links to them (List-Archive, Archived-At, List-Unsubscribe).

Paths keep a list's address readable (ops@example.com); a Message-ID is
percent-encoded whole, its @ and any / included, without its angle brackets.
"""

import re
from urllib.parse import quote

_ADDRESS_SAFE = "@+"


def list_path(address: str) -> str:
    return f"/lists/{quote(address, safe=_ADDRESS_SAFE)}/"


def message_path(address: str, message_id: str) -> str:
    return f"{list_path(address)}messages/{quote(message_id.strip().strip('<>'), safe='')}"


def feed_path(address: str) -> str:
    return f"{list_path(address)}feed.atom"


def unsubscribe_path(token: str) -> str:
    return f"/u/{token}"


def absolute(base_url: str, path: str) -> str:
    """The public URL of a path under the site's base URL (no trailing slash)."""
    return base_url.rstrip("/") + path


def preferences_path(token: str) -> str:
    """A member's preferences, reached with the token of their one-click unsubscribe URL."""
    return f"{unsubscribe_path(token)}/preferences"


def subscribe_path(address: str) -> str:
    return f"{list_path(address)}subscribe"


def signin_path(address: str) -> str:
    return f"{list_path(address)}signin"


def signin_link_path(address: str, token: str) -> str:
    """The one-time link mailed to a member who asked to sign in."""
    return f"{signin_path(address)}/{token}"


def held_path(address: str) -> str:
    return f"{list_path(address)}held"


def held_post_path(address: str, held_id: int) -> str:
    return f"{held_path(address)}/{held_id}"


SIGNOUT_PATH = "/signout"


def moved(url: str, old_address: str, new_address: str) -> str:
    """A URL that names a renamed list's old address (as written, or with %40 for the @),
    naming the new one instead; any other URL as it is."""
    forms = {old_address: new_address,
             quote(old_address, safe="+"): quote(new_address, safe="+")}
    for old, new in forms.items():
        # Not inside a longer address: devops@example.com, ops@example.com.au.
        pattern = re.compile(rf"(?<![\w.%+-]){re.escape(old)}(?![\w-]|\.\w)", re.IGNORECASE)
        url = pattern.sub(new.replace("\\", r"\\"), url)  # a replacement template
    return url
