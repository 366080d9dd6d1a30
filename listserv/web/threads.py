# SPDX-License-Identifier: Apache-2.0
"""A thread, every post in reply order indented by depth, and a single post with the
posts before and after it in its thread.

Posts are parsed and rendered (web.rendering) in a worker thread: a long
thread or a large post must not hold the event loop.
"""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from listserv.core import urls
from listserv.core.policy import ListPolicy
from listserv.core.threading import reply_tree
from listserv.db import archived
from listserv.db.models import ArchivedMessage
from listserv.offload import in_worker
from listserv.web.access import Reader, not_found, readable
from listserv.web.archive import list_head
from listserv.web.pages import render
from listserv.web.rendering import ShownPost, show_post, shown_subject

MAX_INDENT = 8  # deeper replies are drawn at this depth (CSS classes depth-0 … depth-8)


def _shown(posts: Sequence[ArchivedMessage], policy: ListPolicy) -> list[ShownPost]:
    return [show_post(policy.address, post.raw, seq=post.seq, message_id=post.message_id,
                      subject=post.subject, author_name=post.author_name,
                      author_address=post.author_address,
                      date=post.sent_at or post.archived_at, policy=policy)
            for post in posts]


def _in_reply_order(posts: Sequence[ArchivedMessage]) -> list[tuple[int, int]]:
    return reply_tree([(post.message_id, post.in_reply_to, post.references) for post in posts])


@readable()
async def thread_page(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """Every post of the thread, in reply order."""
    posts = await archived.thread_posts(session, reader.list_id,
                                        request.path_params["thread_id"], raw=True)
    if not posts:
        return not_found(request)
    shown = await in_worker(_shown, posts, reader.policy)
    entries = [(shown[index], min(depth, MAX_INDENT)) for index, depth in _in_reply_order(posts)]
    return render(request, "archive/thread.html", head=list_head(reader.policy),
                  subject=shown[0].subject, entries=entries)


async def _post(session: AsyncSession, reader: Reader, message_id: str) -> ArchivedMessage | None:
    """The post a message page names: its id is stored in angle brackets, unless it had
    none that could be read."""
    return (await archived.post_by_message_id(session, reader.list_id, f"<{message_id}>")
            or await archived.post_by_message_id(session, reader.list_id, message_id))


@readable()
async def message_page(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """One post, whole, with links to the posts around it in its thread."""
    post = await _post(session, reader, request.path_params["message_id"])
    if post is None:
        return not_found(request)
    [shown] = await in_worker(_shown, [post], reader.policy)
    thread = (await archived.thread_posts(session, reader.list_id, post.thread_id, raw=False)
              if post.thread_id is not None else [post])
    order = [thread[index] for index, _ in _in_reply_order(thread)]
    place = next(n for n, other in enumerate(order) if other.seq == post.seq)
    mode = reader.policy.archive_addresses

    def link(n: int) -> tuple[str, str] | None:
        if not 0 <= n < len(order):
            return None
        other = order[n]
        return (urls.message_path(reader.address, other.message_id),
                shown_subject(other.subject, mode))

    return render(request, "archive/message.html", head=list_head(reader.policy), post=shown,
                  thread=urls.thread_path(reader.address, post.thread_id or 0),
                  thread_size=len(order), previous=link(place - 1), next=link(place + 1))


routes = [
    Route("/lists/{address}/threads/{thread_id:int}", thread_page, methods=["GET", "HEAD"]),
    Route("/lists/{address}/messages/{message_id:path}", message_page, methods=["GET", "HEAD"]),
]
