# SPDX-License-Identifier: Apache-2.0
"""/lists/{address}/held: posts held for moderation, and the moderators' decisions.

A decision goes through handling.moderation in one unit of work, as
``listserv held`` and a moderator's reply by mail do; the running server
sends what it queues. A post is decided once: a second decision is 409.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from listserv.core.moderation import MAX_REASON, Decision, Verdict
from listserv.db import held as db_held
from listserv.db.lists import get_list
from listserv.db.models import now
from listserv.handling import moderation
from listserv.handling.context import unit_of_work
from listserv.web.api.auth import Caller
from listserv.web.api.common import BIGINT, Context, ListAddress
from listserv.web.api.errors import responses

router = APIRouter(prefix="/lists/{address}/held", tags=["held posts"])
HeldId = Annotated[int, Path(ge=1, le=BIGINT, description="the id 'held list' shows")]


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DISCARD = "discard"


class HeldOut(BaseModel):
    """A held post as ``listserv held list --json`` prints it."""

    id: int
    author: str
    subject: str
    reasons: list[str]
    message_id: str
    held_at: datetime
    expires_at: datetime
    age_hours: float
    size: int = Field(description="of the message, in bytes")
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None


class HeldMessageOut(HeldOut):
    raw: str = Field(description="the message as received (undecodable bytes replaced)")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=MAX_REASON, pattern=r"^[^\x00]*$",
                        description="for reject: told to the author")


class Decided(BaseModel):
    result: str = Field(description="what was done, in one line")
    held: HeldOut


@router.get("", response_model=list[HeldOut], summary="posts waiting for a decision",
            responses=responses(404))
async def list_held(context: Context, address: ListAddress) -> list[dict[str, Any]]:
    moment = now()
    async with context.sessions() as session:
        mlist = await get_list(session, address)
        return [db_held.describe_held(row, moment)
                for row in await db_held.undecided(session, mlist.id)]


@router.get("/{held_id}", response_model=HeldMessageOut, summary="one held post, with "
            "the message", responses=responses(404))
async def show_held(context: Context, address: ListAddress, held_id: HeldId) -> dict[str, Any]:
    async with context.sessions() as session:
        mlist = await get_list(session, address)
        held = await db_held.get_held(session, held_id, mlist.id)
        return db_held.describe_held(held, now(), raw=True)


@router.post("/{held_id}/{action}", response_model=Decided, summary="decide a held post",
             responses=responses(404, 409, 415))
async def decide_held(context: Context, caller: Caller, address: ListAddress, held_id: HeldId,
                      action: Action, body: DecisionIn | None = None) -> dict[str, Any]:
    decision = Decision(Verdict(action.value), body.reason if body else "")
    async with unit_of_work(context.sessions, context.settings, origin="(admin API)",
                            metrics=context.metrics) as work:
        mlist = await get_list(work.session, address)
        held = await db_held.get_held(work.session, held_id, mlist.id)
        result = await moderation.decide_once(work, held, decision, f"{caller} (admin API)")
        await work.session.refresh(held)
        return {"result": result, "held": db_held.describe_held(held, work.now)}
