# SPDX-License-Identifier: Apache-2.0
"""Signing in to the web side by mail: how long the link lasts, and the message carrying it.

A member proves an address by opening a link mailed to it, the way they prove
it for a subscription; the link works once, for a short time.
"""

from datetime import datetime
from email.message import EmailMessage

from listserv.core.notices import notice
from listserv.core.policy import ListPolicy

SIGN_IN_MINUTES = 15


def sign_in_mail(policy: ListPolicy, address: str, url: str, *, message_id: str,
                 now: datetime) -> EmailMessage:
    """Mail a member the one-time link that signs them in to the list's web pages."""
    name = policy.display_name or policy.address.partition("@")[0]
    body = (f"Someone, perhaps you, asked to sign in to the web pages of the {name}\n"
            f"list ({policy.address}) as {address}.\n\n"
            f"To sign in, open this link within {SIGN_IN_MINUTES} minutes; it works once:\n\n"
            f"    {url}\n\n"
            "If you did not ask for this, ignore this message: nobody signs in\n"
            "without the link.\n")
    return notice(policy, address, f"Sign in to {name}", body, message_id=message_id, now=now)
