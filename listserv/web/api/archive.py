# SPDX-License-Identifier: Apache-2.0
"""/lists/{address}/archive: search a list's archive, as ``listserv archive search``."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from listserv import archive
from listserv.db.lists import get_list
from listserv.web.api.common import Context, ListAddress
from listserv.web.api.errors import responses

router = APIRouter(prefix="/lists/{address}/archive", tags=["archive"])
MAX_RESULTS = 200


class Found(BaseModel):
    """One message found; further fields may come as search grows."""

    model_config = ConfigDict(extra="allow")

    seq: int
    message_id: str
    thread_id: int | None
    sent_at: datetime | None
    author_address: str
    author_name: str
    subject: str
    snippet: str  # the text around the words found


@router.get("/search", response_model=list[Found], summary="search the archive",
            responses=responses(404))
async def search(context: Context, address: ListAddress,
                 q: Annotated[str, Query(min_length=1, max_length=1000, pattern=r"\S",
                                         description="words to look for")],
                 limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 50
                 ) -> list[dict[str, Any]]:
    async with context.sessions() as session:
        mlist = await get_list(session, address)
        return [archive.describe_hit(hit)
                for hit in await archive.search(session, mlist.id, q, limit)]
