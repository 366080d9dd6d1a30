# SPDX-License-Identifier: Apache-2.0
"""A member's own pages, reached with the token of their one-click unsubscribe URL:
/u/{token} (leaving, RFC 8058) and /u/{token}/preferences (how they receive the list).

The token (core.tokens.unsubscribe_token) names the list and the member and
is the only authority. A GET or HEAD only shows a page: link scanners and
previews fetch every URL in a message, so only the POST a mailbox provider
(or the page's button) sends unsubscribes, at once and with no other check.
Leaving ends in handling.subscriptions.unsubscribe and delivery changes in
apply_delivery, the functions mail uses.
"""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from listserv.core import urls
from listserv.core.policy import DeliveryMode, DeliveryStatus, ListPolicy
from listserv.core.subscriptions import Delivery, delivery_text
from listserv.core.tokens import read_unsubscribe_token
from listserv.db.lists import list_by_id
from listserv.db.members import find_member
from listserv.db.models import MailingList, Member
from listserv.handling import subscriptions
from listserv.handling.context import Work
from listserv.web.forms import field, form_token, guarded_form, read_form
from listserv.web.members import bad_request, result, secret, work
from listserv.web.pages import render

ONE_CLICK = ("List-Unsubscribe", "One-Click")  # RFC 8058 section 3.1: the POST's body
PREFERENCES = "preferences"  # the form's purpose, for its CSRF field
RESUMABLE = (DeliveryStatus.DISABLED_BY_USER, DeliveryStatus.DISABLED_BY_BOUNCE)
HOW = "one-click unsubscribe on the web"
MODES = {str(mode) for mode in DeliveryMode}

Page = Callable[[Work, MailingList, Member], Awaitable[Response]]


def _invalid(request: Request) -> HTMLResponse:
    return bad_request(request, "This link is not valid: it is incomplete or was changed. "
                                "Open the link from a recent message of the list again, or "
                                "write to the list's -leave address to unsubscribe.")


def _gone(request: Request, mlist: MailingList | None, key: str) -> HTMLResponse:
    """The answer for a token whose member (or list) is gone: nothing left to do."""
    where = f"of {mlist.address}" if mlist else "of that list (it no longer exists)"
    links = (("Subscribe again", urls.subscribe_path(mlist.address)),) if mlist else ()
    return result(request, "Already unsubscribed", f"{key} is not a member {where}.",
                  links=links)


async def _with_member(request: Request, page: Page) -> Response:
    """Run page for the list and member the URL's token names, if both still exist."""
    named = read_unsubscribe_token(secret(request), request.path_params["token"])
    if named is None:
        return _invalid(request)
    list_id, key = named
    async with work(request) as unit:
        mlist = await list_by_id(unit.session, list_id)
        member = await find_member(unit.session, mlist, key) if mlist else None
        if mlist is None or member is None:
            return _gone(request, mlist, key)
        return await page(unit, mlist, member)


async def show(request: Request) -> Response:
    """GET: what the button would do; it changes nothing."""
    token = request.path_params["token"]

    async def page(unit: Work, mlist: MailingList, member: Member) -> Response:
        return render(request, "members/unsubscribe.html", policy=await unit.policy(mlist),
                      address=member.address, action=urls.unsubscribe_path(token),
                      field=ONE_CLICK, preferences=urls.preferences_path(token))

    return await _with_member(request, page)


async def one_click(request: Request) -> Response:
    """POST List-Unsubscribe=One-Click: unsubscribe now, as leaving by mail does."""
    form = await read_form(request)
    if form is None or form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        return bad_request(request, "This is not a one-click unsubscribe request: its body "
                                    "must be List-Unsubscribe=One-Click (RFC 8058).")

    async def page(unit: Work, mlist: MailingList, member: Member) -> Response:
        left = await subscriptions.unsubscribe(unit, mlist, member.match_key, HOW)
        if left.disposition == "refused":
            return result(request, "Not unsubscribed", left.text, 409)
        return result(request, "Unsubscribed", left.text,
                      links=(("Subscribe again", urls.subscribe_path(mlist.address)),))

    return await _with_member(request, page)


async def preferences(request: Request) -> Response:
    """GET: the member's delivery, and the forms that change it or leave."""
    async def page(unit: Work, mlist: MailingList, member: Member) -> Response:
        return _preferences(request, await unit.policy(mlist), member, "")

    return await _with_member(request, page)


async def change_preferences(request: Request) -> Response:
    """POST: a delivery mode (as "set delivery MODE" by mail), or resume delivery (as
    "set nomail off"). The URL's token proves the address, so nothing is confirmed."""
    token = request.path_params["token"]
    form = await guarded_form(request, PREFERENCES, token)
    if isinstance(form, Response):
        return form
    chosen, resume = field(form, "delivery"), field(form, "resume")
    if not resume and chosen not in MODES:
        return bad_request(request, "Choose how to receive the list.")

    async def page(unit: Work, mlist: MailingList, member: Member) -> Response:
        done = subscriptions.apply_delivery(unit, mlist, member,
                                            None if resume else DeliveryMode(chosen),
                                            False if resume else None)
        return _preferences(request, await unit.policy(mlist), member, done)

    return await _with_member(request, page)


def _preferences(request: Request, policy: ListPolicy, member: Member,
                 done: str) -> HTMLResponse:
    token = request.path_params["token"]
    current = Delivery(member.delivery_mode, member.delivery_status)
    return render(request, "members/preferences.html", policy=policy, address=member.address,
                  current=current.describe(), mode=str(member.delivery_mode),
                  modes=[(str(mode), delivery_text(mode)) for mode in DeliveryMode],
                  resumable=member.delivery_status in RESUMABLE, done=done,
                  action=urls.preferences_path(token), csrf=form_token(
                      request, PREFERENCES, token),
                  leave=urls.unsubscribe_path(token), field=ONE_CLICK)


routes = [Route("/u/{token}", show, methods=["GET"]),
          Route("/u/{token}", one_click, methods=["POST"]),
          Route("/u/{token}/preferences", preferences, methods=["GET"]),
          Route("/u/{token}/preferences", change_preferences, methods=["POST"])]
