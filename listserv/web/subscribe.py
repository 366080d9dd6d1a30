# SPDX-License-Identifier: Apache-2.0
"""The subscribe form of every list, /lists/{address}/subscribe.

A web form proves no address, so whatever the list's subscription_policy,
the address confirms by mail first (handling.subscriptions.request_subscription
with core.subscriptions.web_sender): the same double opt-in, daily limits and
texts as a request by mail. The page answers alike whether or not the
address is a member; only the mail to the address says which.
"""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from listserv.core import urls
from listserv.core.addresses import parse_address
from listserv.core.policy import DeliveryMode, ListPolicy
from listserv.core.subscriptions import delivery_text, web_sender
from listserv.errors import InvalidAddress
from listserv.handling.subscriptions import request_subscription
from listserv.web.forms import field, form_token, guarded_form
from listserv.web.members import client, list_named, not_found, too_many, within_rate_limit, work
from listserv.web.pages import render

PURPOSE = "subscribe"
CHOICES = (DeliveryMode.REGULAR, DeliveryMode.DIGEST_MIME, DeliveryMode.DIGEST_PLAIN)


def _page(request: Request, policy: ListPolicy, *, sent: str = "", error: str = "",
          email: str = "", status_code: int = 200) -> Response:
    return render(request, "members/subscribe.html", status_code, policy=policy, sent=sent,
                  error=error, email=email, action=urls.subscribe_path(policy.address),
                  csrf=form_token(request, PURPOSE, policy.address),
                  choices=[(str(mode), delivery_text(mode)) for mode in CHOICES])


async def show(request: Request) -> Response:
    """GET: the form, for every list (who may join is the subscription policy's business)."""
    async with work(request) as unit:
        mlist = await list_named(unit, request.path_params["address"])
        if mlist is None:
            return not_found(request)
        return _page(request, await unit.policy(mlist))


async def subscribe(request: Request) -> Response:
    """POST: mail the address a confirmation (or, to a member, the "already a member" mail)."""
    # The form is read before the transaction starts: a slow client holds no connection.
    form = await guarded_form(request, PURPOSE, request.path_params["address"])
    if isinstance(form, Response):
        return form
    async with work(request) as unit:
        mlist = await list_named(unit, request.path_params["address"])
        if mlist is None:
            return not_found(request)
        policy = await unit.policy(mlist)
        email, chosen = field(form, "email"), field(form, "delivery")
        try:
            mailbox = parse_address(email)
        except InvalidAddress:
            return _page(request, policy, email=email, status_code=400,
                         error="That is not an email address; check it and try again.")
        if not await within_rate_limit(request, unit, PURPOSE):
            return too_many(request)
        delivery = next((mode for mode in CHOICES if str(mode) == chosen), DeliveryMode.REGULAR)
        asked = await request_subscription(unit, mlist, mailbox, delivery,
                                           web_sender(f"a web form (from {client(request)})"))
        return _page(request, policy, sent=asked.text)


routes = [Route("/lists/{address}/subscribe", show, methods=["GET"]),
          Route("/lists/{address}/subscribe", subscribe, methods=["POST"])]
