# SPDX-License-Identifier: Apache-2.0
"""What the members' pages share: a unit of work per request, the list a path names, the
client a rate limit counts, and the pages that say no.

The members' side is unsubscribe.py (one-click and preferences), subscribe.py,
signin.py and moderation.py; each changes state only through the handling
functions mail uses, in a unit of work of its own.
"""

from contextlib import AbstractAsyncContextManager
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import HTMLResponse

from listserv.core.addresses import parse_address
from listserv.core.tokens import short_tag
from listserv.core.websafety import client_network
from listserv.db.forms import record_submission, submissions_since
from listserv.db.models import MailingList
from listserv.errors import InvalidAddress
from listserv.handling.context import Work, unit_of_work
from listserv.web.context import context_of
from listserv.web.pages import message, render

HOUR = timedelta(hours=1)
CLIENT_TAG = "client"  # purpose of the keyed hash a client is counted by


def secret(request: Request) -> bytes:
    """The site's HMAC key (always resolved in a running server)."""
    key = context_of(request).settings.secret_key
    assert key is not None
    return key.get_secret_value().encode()


def work(request: Request) -> AbstractAsyncContextManager[Work]:
    """A unit of work for this request, as mail's units are made."""
    context = context_of(request)
    return unit_of_work(context.sessions, context.settings, origin="(web)",
                        metrics=context.metrics)


async def list_named(work: Work, address: str) -> MailingList | None:
    """The list a path names (by its address or a former one)."""
    try:
        key = parse_address(address).key
    except InvalidAddress:
        return None
    return await work.find_list(key)


def client(request: Request) -> str:
    """Where the request came from: the client's IP address (uvicorn reads X-Forwarded-For
    from the proxies it trusts: FORWARDED_ALLOW_IPS, by default 127.0.0.1 and ::1)."""
    return request.client.host if request.client else "unknown"


async def within_rate_limit(request: Request, work: Work, form: str) -> bool:
    """Count one submission of a form that mails someone; False, counting nothing, once the
    client's network has sent LISTSERV_WEB_FORMS_PER_HOUR of them within the hour.

    Counted in the database, so that several processes behind one proxy
    share the count; kept as a keyed hash, never as the address.
    """
    counted = short_tag(secret(request), CLIENT_TAG, [client_network(client(request))],
                        length=26)
    if await submissions_since(work.session, counted, work.now - HOUR) \
            >= work.settings.web_forms_per_hour:
        return False
    record_submission(work.session, client=counted, form=form, now=work.now)
    return True


def too_many(request: Request) -> HTMLResponse:
    response = message(request, "Too many requests",
                       "Too many forms that send mail came from your network within the hour. "
                       "Please try again later.", 429)
    response.headers["Retry-After"] = str(int(HOUR.total_seconds()))
    return response


def not_found(request: Request) -> HTMLResponse:
    return message(request, "Not found", "There is no such page here.", 404)


def bad_request(request: Request, text: str) -> HTMLResponse:
    return message(request, "Not done", text, 400)


def result(request: Request, title: str, text: str, status_code: int = 200,
           links: tuple[tuple[str, str], ...] = ()) -> HTMLResponse:
    """A page that says what came of something, with the links that lead on."""
    return render(request, "members/result.html", status_code, title=title, text=text,
                  links=links)
