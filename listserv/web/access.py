# SPDX-License-Identifier: Apache-2.0
"""Who may read a list's archive on the web, by its archive_visibility.

public: anyone. members: a visitor signed in (web.auth) with an address on
the list, in any role; anyone else gets a page that says the archive is for
members and shows nothing of it. private: not on the web: the answer is the
same 404 as for a list that does not exist, so a private list cannot be
found out. Every archive route goes through readable(), which opens a
session that only reads.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from listserv.core import urls
from listserv.core.addresses import parse_address
from listserv.core.policy import ArchiveAddresses, ArchiveVisibility, ListPolicy
from listserv.db.lists import find_list
from listserv.db.members import find_member
from listserv.db.models import MailingList
from listserv.db.snapshots import load_policy
from listserv.errors import InvalidAddress
from listserv.web.auth import signed_in
from listserv.web.context import context_of
from listserv.web.pages import message, render


@dataclass(frozen=True, slots=True)
class Reader:
    """A visitor allowed to read a list's archive, and the list."""

    list_id: int
    policy: ListPolicy
    member: bool  # signed in as one of the list's members

    @property
    def address(self) -> str:
        return self.policy.address

    @property
    def download_addresses(self) -> ArchiveAddresses:
        """How downloads show addresses: whole for members, else as the pages do."""
        return ArchiveAddresses.SHOW if self.member else self.policy.archive_addresses


Handler = Callable[[Request, AsyncSession, Reader], Awaitable[Response]]


def not_found(request: Request) -> Response:
    """The one 404 of the archive: no such list, a private one, no such post."""
    return message(request, "Not found", "There is no such page.", 404)


async def _member(request: Request, session: AsyncSession, mlist: MailingList) -> bool:
    key = signed_in(request)
    return key is not None and await find_member(session, mlist, key) is not None


def readable(refused_status: int = 200) -> Callable[[Handler], Callable[[Request],
                                                                     Awaitable[Response]]]:
    """Make an archive route: find the list named in the path and let the handler answer
    only a visitor who may read it. refused_status: what a members-only page answers
    strangers (200 for pages, 403 where a page would be taken for the content)."""

    def route(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            context = context_of(request)
            async with context.reading() as session:
                try:
                    key = parse_address(request.path_params["address"]).key
                except InvalidAddress:
                    return not_found(request)
                mlist = await find_list(session, key)
                if mlist is None or mlist.archive_visibility is ArchiveVisibility.PRIVATE:
                    return not_found(request)
                member = await _member(request, session, mlist)
                policy = await load_policy(session, mlist, context.settings.base_url)
                if mlist.archive_visibility is ArchiveVisibility.MEMBERS and not member:
                    return members_only(request, policy, refused_status)
                return await handler(request, session, Reader(mlist.id, policy, member))

        return endpoint

    return route


def members_only(request: Request, policy: ListPolicy, status_code: int) -> Response:
    """The page a stranger gets for a members' archive: where to sign in, nothing more."""
    return render(request, "archive/members_only.html", status_code,
                  name=policy.display_name or policy.address, address=policy.address,
                  signin=f"{urls.list_path(policy.address)}signin",
                  subscribe=f"{urls.list_path(policy.address)}subscribe")
