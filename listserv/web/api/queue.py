# SPDX-License-Identifier: Apache-2.0
"""/queue: what waits to be processed or delivered, and why (``listserv queue --json``)."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from listserv.db.queue import queue_summary
from listserv.web.api.common import Context

router = APIRouter(tags=["queue"])


class QueueOut(BaseModel):
    inbound: dict[str, int] = Field(description="stored mail by state")
    inbound_failed: list[dict[str, Any]] = Field(description="the latest failures, with "
                                                 "the last line of their error")
    held: dict[str, int] = Field(description="undecided held posts per list")
    pending_confirmations: int
    confirmations_waiting: list[dict[str, Any]]
    delivery_jobs: dict[str, int] = Field(description="delivery jobs by state")
    recipients_waiting: int
    delivery_problems: list[dict[str, Any]] = Field(description="jobs with an error, "
                                                    "next attempt first")


@router.get("/queue", response_model=QueueOut, summary="what waits, and why")
async def show_queue(context: Context) -> dict[str, Any]:
    async with context.sessions() as session:
        return await queue_summary(session)

