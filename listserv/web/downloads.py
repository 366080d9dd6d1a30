# SPDX-License-Identifier: Apache-2.0
"""Downloads from the archive: a post as it was archived (.eml), a month as an mbox,
an attachment.

Members signed in get posts whole; anyone else gets the addresses in their
header fields concealed as the pages conceal them (the bodies are as
written). Every download is an attachment that a browser saves and never
runs: nosniff, a sandboxing Content-Security-Policy, and a type that is
opaque octets unless the part is an image a browser only displays.
"""

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from listserv import archive
from listserv.core.message import parse_post
from listserv.core.months import parse_month
from listserv.core.obfuscation import conceal_headers
from listserv.core.reading import (
    DOWNLOAD_TYPE,
    content,
    content_disposition,
    describe,
    download_type,
    parts,
)
from listserv.db import archived
from listserv.offload import in_worker
from listserv.web.access import Reader, not_found, readable
from listserv.web.context import context_of

FORBIDDEN = 403  # a members' archive, to a stranger: the refusal page, not the file


def _headers(filename: str) -> dict[str, str]:
    return {"Content-Disposition": content_disposition(filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store"}


@readable(FORBIDDEN)
async def raw_message(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """The post as archived: decorated as it went to the members."""
    post = await archived.post_by_seq(session, reader.list_id, request.path_params["seq"])
    if post is None:
        return not_found(request)
    raw = conceal_headers(post.raw, reader.download_addresses)
    return Response(raw, media_type=DOWNLOAD_TYPE, headers=_headers(f"{post.seq}.eml"))


@readable(FORBIDDEN)
async def attachment(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """One part of a post, by its number among the post's parts."""
    post = await archived.post_by_seq(session, reader.list_id, request.path_params["seq"])
    number = request.path_params["number"]
    if post is None:
        return not_found(request)
    found = await in_worker(_part, post.raw, number)
    if found is None:
        return not_found(request)
    filename, media_type, data = found
    return Response(data, media_type=media_type, headers=_headers(filename))


def _part(raw: bytes, number: int) -> tuple[str, str, bytes] | None:
    every = parts(parse_post(raw).message)
    if not 1 <= number <= len(every):
        return None
    part = every[number - 1]
    described = describe(part, number)
    return described.filename, download_type(described.content_type), content(part)


@readable(FORBIDDEN)
async def month_mbox(request: Request, session: AsyncSession, reader: Reader) -> Response:
    """The month's posts as one mbox (mboxrd), streamed batch by batch."""
    month = parse_month(request.path_params["month"])
    if month is None:
        return not_found(request)
    ids = await archive.mbox_ids(session, reader.list_id, month.start, month.end)
    sessions = context_of(request).reading

    async def entries() -> AsyncIterator[bytes]:
        # A session of its own for each batch: a long download holds no transaction open.
        for start in range(0, len(ids), archive.EXPORT_BATCH):
            async with sessions() as batch:
                found = await archive.mbox_entries(batch, ids[start:start + archive.EXPORT_BATCH],
                                                   reader.download_addresses)
            for entry in found:
                yield entry if entry.endswith(b"\n") else entry + b"\n"
                yield b"\n"  # the empty line before the next From_ line

    filename = f"{reader.address.partition('@')[0]}-{month.key}.mbox"
    return StreamingResponse(entries(), media_type="application/mbox",
                             headers=_headers(filename))


routes = [
    Route("/lists/{address}/raw/{seq:int}.eml", raw_message, methods=["GET", "HEAD"]),
    Route("/lists/{address}/attachments/{seq:int}/{number:int}", attachment,
          methods=["GET", "HEAD"]),
    Route("/lists/{address}/{month}.mbox", month_mbox, methods=["GET", "HEAD"]),
]
