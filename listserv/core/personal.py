# SPDX-License-Identifier: Apache-2.0
"""The per-member parts of list mail, added at delivery: the VERP sender, the personal footer.

With personalize=verp each member's copy gets an envelope sender naming them
(core.verp), so a bounce names its member whatever the report says; with
full the copy also carries the member's own footer ({member_address} in the
list's footer) and a List-Unsubscribe that names their address.
"""

from urllib.parse import quote

from listserv.core.decoration import render
from listserv.core.footer import add_footer, footer_text
from listserv.core.message import parse_post
from listserv.core.policy import ListPolicy, Personalize
from listserv.core.verp import sender

MEMBER_FIELD = "{member_address}"


def personalization(policy: ListPolicy, chance: float) -> tuple[Personalize, str]:
    """How a post goes out (and the footer left for delivery to fill in, with full).

    chance (0 <= chance < 1, the caller's randomness) picks the VERP probes
    of a list that asks for about one post in verp_probe_every.
    """
    if policy.personalize is Personalize.FULL:
        return Personalize.FULL, footer_text(policy)
    if policy.personalize is Personalize.NONE and policy.verp_probe_every > 0 \
            and chance * policy.verp_probe_every < 1:
        return Personalize.VERP, ""
    return policy.personalize, ""


def envelope_sender(bounce_address: str, member: str) -> str:
    """The VERP envelope sender for member, or the plain one if the address cannot be encoded."""
    return sender(bounce_address, member) or bounce_address


def personal_copy(raw: bytes, footer: str, member: str) -> bytes:
    """The decorated post (without footer) as it goes to one member; raw if it cannot be read."""
    message = parse_post(raw).message
    try:
        unsubscribe = str(message.get("List-Unsubscribe", ""))
        if unsubscribe.startswith("<mailto:") and "?" not in unsubscribe:
            del message["List-Unsubscribe"]
            message["List-Unsubscribe"] = (
                f"{unsubscribe[:-1]}?subject={quote(f'unsubscribe {member}', safe='@')}>")
        if footer:
            add_footer(message, footer.replace(MEMBER_FIELD, member))
        return render(message)
    except Exception:  # the email package raises on MIME nobody foresaw: send it unchanged
        return raw
