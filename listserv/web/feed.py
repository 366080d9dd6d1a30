# SPDX-License-Identifier: Apache-2.0
"""Each list's Atom feed (RFC 4287): its latest posts, linked to their pages.

Links are absolute, under LISTSERV_BASE_URL, or the address the request came
to when the site has none. Entries carry the post's text (the archive's
extract, no markup) with its addresses concealed as the pages conceal them.
The feed follows the archive's visibility like any page.
"""

import re

from feedgen.feed import FeedGenerator
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from listserv.core import urls
from listserv.core.obfuscation import conceal_text
from listserv.db import archived
from listserv.web.access import Reader, readable
from listserv.web.context import context_of
from listserv.web.rendering import author, shown_subject

ENTRIES = 50
EXCERPT = 2000  # characters of each post's text
# Characters XML 1.0 cannot carry (section 2.2); mail can, and lxml would refuse the feed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def base_url(request: Request) -> str:
    """The site's public base URL: LISTSERV_BASE_URL, else where this request came."""
    return context_of(request).settings.base_url or str(request.base_url)


@readable(403)
async def feed(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """The latest posts, newest first."""
    base, mode, address = base_url(request), reader.policy.archive_addresses, reader.address
    generator = FeedGenerator()
    generator.id(urls.absolute(base, urls.list_path(address)))
    generator.title(_xml(reader.policy.display_name or address))
    generator.subtitle(_xml(reader.policy.description or f"Posts to {address}"))
    generator.link(href=urls.absolute(base, urls.list_path(address)), rel="alternate")
    generator.link(href=urls.absolute(base, urls.feed_path(address)), rel="self")
    posts = await archived.latest_posts(session, reader.list_id, ENTRIES)
    for post in posts:
        link = urls.absolute(base, urls.message_path(address, post.message_id))
        entry = generator.add_entry(order="append")
        entry.id(link)
        entry.link(href=link, rel="alternate")
        entry.title(_xml(shown_subject(post.subject, mode)))
        entry.author(name=_xml(author(post.author_name, post.author_address, mode)))
        entry.published(post.sent_at or post.archived_at)
        entry.updated(post.archived_at)
        entry.content(_xml(conceal_text(post.body_text[:EXCERPT], mode)), type="text")
    if posts:
        generator.updated(posts[0].archived_at)
    return Response(generator.atom_str(pretty=True), media_type="application/atom+xml",
                    headers={"X-Content-Type-Options": "nosniff"})


routes = [Route("/lists/{address}/feed.atom", feed, methods=["GET", "HEAD"])]
