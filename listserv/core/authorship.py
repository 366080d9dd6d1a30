# SPDX-License-Identifier: Apache-2.0
"""Whether mail comes from the address in its From: what decisions and changes by mail need.

A From is text anyone can write, and so is the envelope sender. Where the
site's front MTA checks DMARC and DKIM (LISTSERV_TRUSTED_AUTHSERV_ID) and
says the From's domain passed, the From is proven. Without such a front MTA,
a moderator's decision needs at least the envelope sender to be the From
mailbox: the commonest forgery (envelope eve@, From: the moderator) then
decides nothing, and a forger who sets both sends every answer to the
moderator, not to himself. A change of a member's delivery needs more: the
proof above, or the member's reply to a token mailed to them (the shell's).
"""

from listserv.core.addresses import parse_address
from listserv.core.authresults import Authenticity, author_verdict, trusted
from listserv.core.message import Post
from listserv.errors import InvalidAddress


def front_verdict(post: Post, authserv_id: str | None) -> Authenticity:
    """What the trusted front MTA found about the domain of post's From (UNKNOWN without
    a trusted front MTA or a From)."""
    if not authserv_id or not post.author:
        return Authenticity.UNKNOWN
    return author_verdict(trusted(post.raw, authserv_id), post.author.rpartition("@")[2])


def authenticated(post: Post, authserv_id: str | None) -> bool:
    """Whether the trusted front MTA authenticated the domain of post's From."""
    return front_verdict(post, authserv_id) is Authenticity.PASS


def envelope_is_author(post: Post) -> bool:
    """Whether the envelope sender is the From mailbox (compared by match key)."""
    try:
        return bool(post.author) and parse_address(post.mail_from).key == post.author
    except InvalidAddress:
        return False


def decision_refusal(post: Post, authserv_id: str | None, *, required: bool) -> str | None:
    """Why a moderator's reply may not decide anything (after "Nothing was done:"); None
    when it may.

    required is the list's moderator_replies_need_auth: off, the From alone
    counts (the list's operators chose so).
    """
    if not required:
        return None
    if authserv_id:
        verdict = front_verdict(post, authserv_id)
        if verdict is Authenticity.PASS:
            return None
        found = ("found nothing about it" if verdict is Authenticity.UNKNOWN else
                 f"could not verify that it came from {post.author.rpartition('@')[2]} "
                 "(no passing DMARC or DKIM result)")
        return ("decisions by mail count only from mail whose sender is authenticated, and "
                f"the mail server {authserv_id} {found}.")
    if envelope_is_author(post):
        return None
    return ("decisions by mail count only from mail whose envelope sender (its Return-Path) "
            f"is the From address, and this one came from <{post.mail_from}>, not "
            f"{post.author}.")
