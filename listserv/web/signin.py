# SPDX-License-Identifier: Apache-2.0
"""Signing in by mail, for members-only archives and web moderation:
/lists/{address}/signin, the one-time link /lists/{address}/signin/{token}, and /signout.

Asking mails a link to the address if it is a member of the list (any
role) and answers alike whether or not it is. The link is a pending
confirmation (action "signin", a random 128-bit token) valid 15 minutes and
claimed once. Opening it (GET) only shows a button: mail scanners fetch
links; its POST signs in (web.auth) and goes on to the list's page or to the
"next" path it was asked with, on this site only.
"""

import logging
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from listserv.core import urls
from listserv.core.addresses import Mailbox, parse_address
from listserv.core.signin import SIGN_IN_MINUTES, sign_in_mail
from listserv.core.websafety import local_path
from listserv.db import confirmations
from listserv.db.members import find_member
from listserv.db.models import MailingList, PendingConfirmation
from listserv.errors import InvalidAddress
from listserv.handling import notices
from listserv.handling.context import Work
from listserv.web.auth import sign_in, sign_out, signed_in
from listserv.web.forms import field, form_token, guarded_form
from listserv.web.members import list_named, not_found, result, too_many, within_rate_limit, work
from listserv.web.pages import render

log = logging.getLogger(__name__)

ACTION = "signin"  # the pending confirmation's action, and the notice log's kind
LINK = "signin-link"  # the purpose of the link page's form
SIGNOUT = "signout"


def session_values(request: Request) -> dict[str, Any]:
    """What a page needs for its "signed in as … / sign out" line."""
    key = signed_in(request)
    return {"signed_in": key or "",
            "signout": (urls.SIGNOUT_PATH, form_token(request, SIGNOUT, key or ""))}


def _page(request: Request, mlist: MailingList, *, next_path: str, sent: str = "",
          error: str = "", status_code: int = 200) -> Response:
    return render(request, "members/signin.html", status_code, address=mlist.address,
                  name=mlist.display_name or mlist.address, next=next_path, sent=sent,
                  error=error, action=urls.signin_path(mlist.address),
                  csrf=form_token(request, ACTION, mlist.address), **session_values(request))


async def show(request: Request) -> Response:
    """GET: the form asking for an address."""
    async with work(request) as unit:
        mlist = await list_named(unit, request.path_params["address"])
        if mlist is None:
            return not_found(request)
        return _page(request, mlist,
                     next_path=local_path(request.query_params.get("next", "")) or "")


async def ask(request: Request) -> Response:
    """POST: mail a member the link; the same answer for any address."""
    form = await guarded_form(request, ACTION, request.path_params["address"])
    if isinstance(form, Response):
        return form
    async with work(request) as unit:
        mlist = await list_named(unit, request.path_params["address"])
        if mlist is None:
            return not_found(request)
        next_path = local_path(field(form, "next")) or ""
        try:
            mailbox = parse_address(field(form, "email"))
        except InvalidAddress:
            return _page(request, mlist, next_path=next_path, status_code=400,
                         error="That is not an email address; check it and try again.")
        if not unit.settings.base_url:
            return result(request, "Not available", "Signing in by mail needs the site's "
                          "public URL (LISTSERV_BASE_URL); the operators have not set it.", 503)
        if not await within_rate_limit(request, unit, ACTION):
            return too_many(request)
        await _mail_link(unit, mlist, mailbox, next_path)
        return _page(request, mlist, next_path=next_path, sent=(
            f"If {mailbox} is a member of {mlist.address}, a message with a link to sign "
            f"in is on its way to it. The link works once, within {SIGN_IN_MINUTES} minutes."))


async def _mail_link(unit: Work, mlist: MailingList, mailbox: Mailbox, next_path: str) -> None:
    """Mail a member of any role a one-time sign-in link, within the daily limit."""
    member = await find_member(unit.session, mlist, mailbox.key)
    if member is None:
        log.info("%s: no sign-in link for %s, no member of %s", unit.origin, mailbox,
                 mlist.address)
        return
    if not await notices.within_daily_limit(unit, unit.settings.confirmations_per_day,
                                            address=member.match_key, mlist=mlist, kind=ACTION):
        log.info("%s: no sign-in link for %s on %s: the daily limit is reached", unit.origin,
                 mailbox, mlist.address)
        return
    row = await confirmations.add_pending(
        unit.session, list_id=mlist.id, action=ACTION, address=member.address,
        match_key=member.match_key, payload={"next": next_path}, now=unit.now,
        lifetime=timedelta(minutes=SIGN_IN_MINUTES))
    policy = await unit.policy(mlist)
    url = urls.absolute(unit.settings.base_url or "",
                        urls.signin_link_path(policy.address, row.token))
    await notices.send(unit, mlist, sign_in_mail(policy, member.address, url,
                                                 message_id=unit.message_id(), now=unit.now),
                       [member.address], ACTION)
    notices.count(unit, mlist, member.match_key, ACTION)


async def _link(unit: Work, request: Request) -> tuple[MailingList, PendingConfirmation] | None:
    """The list and the unused, unexpired sign-in request a link names."""
    mlist = await list_named(unit, request.path_params["address"])
    if mlist is None:
        return None
    row = await confirmations.find_pending(unit.session, list_id=mlist.id,
                                           token=request.path_params["token"],
                                           actions=[ACTION], now=unit.now)
    return (mlist, row) if row is not None else None


def _expired(request: Request) -> Response:
    return result(request, "Link used or expired", "This sign-in link was used already or is "
                  f"older than {SIGN_IN_MINUTES} minutes. Ask for a new one.", 410,
                  links=(("Sign in", urls.signin_path(request.path_params["address"])),))


async def confirm_page(request: Request) -> Response:
    """GET of the mailed link: a button, never a sign-in."""
    token = request.path_params["token"]
    async with work(request) as unit:
        found = await _link(unit, request)
        if found is None:
            return _expired(request)
        mlist, row = found
        return render(request, "members/signin_link.html", name=mlist.display_name or
                      mlist.address, address=row.address, action=str(request.url.path),
                      csrf=form_token(request, LINK, token))


async def use_link(request: Request) -> Response:
    """POST of the link's button: use the link once, sign in, go on."""
    token = request.path_params["token"]
    form = await guarded_form(request, LINK, token)
    if isinstance(form, Response):
        return form
    async with work(request) as unit:
        found = await _link(unit, request)
        if found is None or not await confirmations.claim(unit.session, found[1].id, unit.now):
            return _expired(request)
        mlist, row = found
        if await find_member(unit.session, mlist, row.match_key) is None:
            return result(request, "Not signed in",
                          f"{row.address} is not a member of {mlist.address} any more.", 403)
    sign_in(request, row.match_key)
    log.info("(web): %s signed in on %s", row.address, mlist.address)
    target = local_path(str(row.payload.get("next", ""))) or urls.list_path(mlist.address)
    return RedirectResponse(target, status_code=303)


async def leave(request: Request) -> Response:
    """POST /signout: end the session."""
    form = await guarded_form(request, SIGNOUT, signed_in(request) or "")
    if isinstance(form, Response):
        return form
    sign_out(request)
    return result(request, "Signed out", "You are signed out.")


routes = [Route("/lists/{address}/signin", show, methods=["GET"]),
          Route("/lists/{address}/signin", ask, methods=["POST"]),
          Route("/lists/{address}/signin/{token}", confirm_page, methods=["GET"]),
          Route("/lists/{address}/signin/{token}", use_link, methods=["POST"]),
          Route(urls.SIGNOUT_PATH, leave, methods=["POST"])]
