# SPDX-License-Identifier: Apache-2.0
"""The web side's public URLs, built in one place for the pages and for the mail that
links to them (List-Archive, Archived-At, List-Unsubscribe).

Paths keep a list's address readable (ops@example.com); a Message-ID is
percent-encoded whole, its @ and any / included, without its angle brackets.
"""

import re
from urllib.parse import quote

from listserv.core.policy import ArchiveVisibility, ListPolicy

_ADDRESS_SAFE = "@+"


def list_path(address: str) -> str:
    return f"/lists/{quote(address, safe=_ADDRESS_SAFE)}/"


def encoded_message_id(message_id: str) -> str:
    """A Message-ID as one path segment: no angle brackets, everything else escaped."""
    return quote(message_id.strip().strip("<>"), safe="")


def message_path(address: str, message_id: str) -> str:
    return f"{list_path(address)}messages/{encoded_message_id(message_id)}"


def feed_path(address: str) -> str:
    return f"{list_path(address)}feed.atom"


def thread_path(address: str, thread_id: int) -> str:
    return f"{list_path(address)}threads/{thread_id}"


def month_path(address: str, year: int, month: int) -> str:
    return f"{list_path(address)}{year:04d}/{month:02d}/"


def mbox_path(address: str, year: int, month: int) -> str:
    return f"{list_path(address)}{year:04d}-{month:02d}.mbox"


def raw_path(address: str, seq: int) -> str:
    """The stored message as it was archived (an .eml download), by its number in the list."""
    return f"{list_path(address)}raw/{seq}.eml"


def attachment_path(address: str, seq: int, number: int) -> str:
    return f"{list_path(address)}attachments/{seq}/{number}"


def search_path(address: str) -> str:
    return f"{list_path(address)}search"


def unsubscribe_path(token: str) -> str:
    return f"/u/{token}"


# The token in a one-click unsubscribe URL (core.tokens: base64url fields, a dot, the tag).
_UNSUBSCRIBE_TOKEN = re.compile(r"/u/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)(?![A-Za-z0-9_.-])")


def unsubscribe_tokens(text: str) -> list[str]:
    """The tokens of the one-click unsubscribe URLs in a text (a List-Unsubscribe value)."""
    return _UNSUBSCRIBE_TOKEN.findall(text)


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


def archive_url(policy: ListPolicy) -> str:
    """Where the list's archive is read: its archive_url, else its page on the web side
    when the site has a base URL and the archive is not private; '' for none."""
    if policy.archive_url.strip():
        return policy.archive_url.strip()
    if policy.web_url and policy.archive_visibility is not ArchiveVisibility.PRIVATE:
        return absolute(policy.web_url, list_path(policy.address))
    return ""


def archived_at(policy: ListPolicy, message_id: str) -> str:
    """The permalink of a post for Archived-At (RFC 5064); '' when the list has none.

    An explicit archive_url gets the id as a path segment with a trailing slash, as
    public-inbox's permalinks have; the web side's is its message page.
    """
    if not policy.archive:
        return ""
    if policy.archive_url.strip():
        return f"{policy.archive_url.strip().rstrip('/')}/{encoded_message_id(message_id)}/"
    if archive_url(policy):
        return absolute(policy.web_url, message_path(policy.address, message_id))
    return ""
