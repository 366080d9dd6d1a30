# SPDX-License-Identifier: Apache-2.0
"""What the tests of the members' pages share: the site's public URL, a client that posts
as a browser on that site would, members' one-click URLs, and links read from mail."""

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from listserv.app import App
from listserv.core import tokens, urls
from listserv.db import lists as db_lists
from listserv.db import members as db_members
from tests.sink import Delivered, Sink

SITE = "http://lists.example.test"  # LISTSERV_BASE_URL of these tests' server
LIST = "ops@example.com"


@asynccontextmanager
async def browser_like(app: App, origin: str = SITE) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to the running server whose POSTs carry the site's Origin."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}",
                                 headers={"Origin": origin}) as client:
        yield client


async def one_click_path(app: App, address: str) -> str:
    """The path of a member's one-click unsubscribe URL, as their copies carry it."""
    async with app.sessions() as session:
        mlist = await db_lists.get_list(session, LIST)
    assert app.settings.secret_key is not None
    key = app.settings.secret_key.get_secret_value().encode()
    return urls.unsubscribe_path(tokens.unsubscribe_token(key, mlist.id, address.lower()))


async def delivery(app: App, address: str) -> str | None:
    """A member's delivery mode and status; None for no member."""
    async with app.sessions() as session:
        mlist = await db_lists.get_list(session, LIST)
        member = await db_members.find_member(session, mlist, address.lower())
    return f"{member.delivery_mode} {member.delivery_status}" if member else None


def body(delivered: Delivered) -> str:
    part = delivered.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def site_path(delivered: Delivered) -> str:
    """The path of the one link to this site in a message."""
    [url] = re.findall(re.escape(SITE) + r"(/\S+)", body(delivered))
    return str(url)


def mail_with_subject(sink: Sink, address: str, start: str) -> list[Delivered]:
    """Mail to the address whose subject starts so (the email package folds a long subject
    whole onto a line of its own, which reads back with a leading space)."""
    return [d for d in sink.to(address) if str(d.message["Subject"]).strip().startswith(start)]


def shown(response: httpx.Response) -> str:
    """A page's text as a reader sees it (entities decoded)."""
    return html.unescape(response.text)


def hidden(page: str, name: str, action: str | None = None) -> str:
    """The value of a hidden field of the page's first form (posting to action, if given)."""
    if action is not None:
        form = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>',
                         page, re.DOTALL)
        assert form, f"no form posting to {action}"
        page = form.group(1)
    match = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)">', page)
    assert match, f"no hidden field {name}"
    return html.unescape(match.group(1))
