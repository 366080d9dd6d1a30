# SPDX-License-Identifier: Apache-2.0
"""The archive's listings: the lists one may read, a list's threads, a month, a search.

Pages only read (web.access opens a session that cannot write) and show
no address but the list's own: authors' addresses are concealed as the
list's archive_addresses says. Threads and posts are in web.threads,
downloads in web.downloads, the feed in web.feed.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from listserv import archive
from listserv.core import urls
from listserv.core.markup import highlighted
from listserv.core.months import Month, by_day, by_year, month_of, parse_month
from listserv.core.obfuscation import conceal_text
from listserv.core.paging import Page, page_of, requested_page
from listserv.core.policy import ListPolicy
from listserv.core.search import terms
from listserv.db import archived
from listserv.web.access import Reader, not_found, readable
from listserv.web.auth import signed_in
from listserv.web.context import context_of
from listserv.web.pages import render
from listserv.web.rendering import author, shown_subject

THREADS_PER_PAGE = 50
HITS_PER_PAGE = 20


@dataclass(frozen=True, slots=True)
class ListHead:
    """What every page of a list shows at its top, and where it links."""

    name: str
    address: str
    description: str
    path: str
    feed: str
    search: str
    subscribe: str  # the members' pages
    signin: str


def list_head(policy: ListPolicy) -> ListHead:
    path = urls.list_path(policy.address)
    return ListHead(policy.display_name or policy.address, policy.address, policy.description,
                    path, urls.feed_path(policy.address), urls.search_path(policy.address),
                    f"{path}subscribe", f"{path}signin")


@dataclass(frozen=True, slots=True)
class Entry:
    """A post or thread in a listing."""

    path: str
    subject: Markup | str
    author: str
    date: datetime
    posts: int = 1
    snippet: Markup | str = ""


async def index(request: Request) -> Response:
    """The lists whose archive the visitor may read, with how much each holds."""
    async with context_of(request).reading() as session:
        lists = await archived.readable_lists(session, signed_in(request))
        found = await archived.summaries(session, [mlist.id for mlist in lists])
    entries = [(mlist.display_name or mlist.address, mlist.address, mlist.description,
                urls.list_path(mlist.address), found.get(mlist.id)) for mlist in lists]
    return render(request, "archive/index.html", lists=entries)


@readable()
async def list_page(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """A page of the list's threads, the latest active first, and its months."""
    mode = reader.policy.archive_addresses
    page = page_of(request.query_params.get("page"),
                   await archived.count_threads(session, reader.list_id), THREADS_PER_PAGE)
    threads = [Entry(urls.thread_path(reader.address, thread.thread_id),
                     shown_subject(thread.subject, mode),
                     author(thread.author_name, thread.author_address, mode),
                     thread.last_posted, thread.posts)
               for thread in await archived.threads(session, reader.list_id, page.offset,
                                                    page.size)]
    counts = {month: count for key, count in
              (await archived.month_counts(session, reader.list_id)).items()
              if (month := parse_month(key)) is not None}
    months = [(year, [(month, count, urls.month_path(reader.address, month.year, month.month),
                       urls.mbox_path(reader.address, month.year, month.month))
                      for month, count in entries])
              for year, entries in by_year(counts)]
    return render(request, "archive/list.html", head=list_head(reader.policy), threads=threads,
                  page=page, pages=_pages(page, ""), months=months)


def _pages(page: Page, query: str) -> tuple[str | None, str | None]:
    """The links to the previous and next pages, keeping the rest of the query."""

    def link(number: int | None) -> str | None:
        return f"?{query}page={number}" if number else None

    return link(page.previous), link(page.next)


@readable()
async def month_page(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """The posts of one month, by day."""
    month = month_of(request.path_params["year"], request.path_params["month"])
    if month is None:
        return not_found(request)
    mode = reader.policy.archive_addresses
    posts = [Entry(urls.message_path(reader.address, post.message_id),
                   shown_subject(post.subject, mode),
                   author(post.author_name, post.author_address, mode),
                   post.sent_at or post.archived_at)
             for post in await archived.month_posts(session, reader.list_id, month.start,
                                                    month.end)]
    return render(request, "archive/month.html", head=list_head(reader.policy), month=month,
                  days=by_day(posts, lambda entry: entry.date.date()),
                  mbox=urls.mbox_path(reader.address, month.year, month.month),
                  around=_around(reader.address, month))


def _around(address: str, month: Month) -> list[tuple[str, str, tuple[str, str]]]:
    """Links to the months before and after: (label, path, arrows around the label)."""
    return [(other.label, urls.month_path(address, other.year, other.month), arrows)
            for other, arrows in ((month.previous, ("\u2190 ", "")),
                                  (month.next, ("", " \u2192")))
            if other is not None]


@readable()
async def search_page(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """Posts with every word searched for, best first, the words marked."""
    query = request.query_params.get("q", "")
    number = requested_page(request.query_params.get("page"))
    hits = await archive.search(session, reader.list_id, query, limit=HITS_PER_PAGE,
                                offset=(number - 1) * HITS_PER_PAGE)
    mode = reader.policy.archive_addresses
    entries = [Entry(urls.message_path(reader.address, hit.message_id),
                     Markup(highlighted(conceal_text(hit.marked_subject, mode))),  # escaped
                     author(hit.author_name, hit.author_address, mode), hit.date,
                     snippet=Markup(highlighted(conceal_text(hit.snippet, mode))))  # escaped
               for hit in hits]
    page = Page(number, HITS_PER_PAGE, hits.matches)
    return render(request, "archive/search.html", head=list_head(reader.policy), query=query,
                  searched=bool(terms(query)), hits=entries, matches=hits.matches,
                  ranked=hits.ranked, pages=_pages(page, f"q={quote_plus(query)}&"))


routes = [
    Route("/", index, methods=["GET", "HEAD"]),
    Route("/lists/{address}/", list_page, methods=["GET", "HEAD"]),
    Route("/lists/{address}/search", search_page, methods=["GET", "HEAD"]),
    Route("/lists/{address}/{year:int}/{month:int}/", month_page, methods=["GET", "HEAD"]),
]
