# SPDX-License-Identifier: Apache-2.0
"""/lists/{address}/members: add, import, list (in pages), show, change and remove members,
as ``listserv members`` does."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from listserv.core.addresses import parse_address, parse_mailbox
from listserv.core.list_settings import MEMBER_SETTINGS
from listserv.core.policy import DeliveryMode, DeliveryStatus, Role
from listserv.db import members as db_members
from listserv.db.lists import get_list
from listserv.errors import InvalidAddress, ListservError
from listserv.offload import in_worker
from listserv.web.api.common import Context, ListAddress, checked, parsed, settings_model
from listserv.web.api.errors import responses
from listserv.web.api.roster import ROSTER_BODY, read_body

router = APIRouter(prefix="/lists/{address}/members", tags=["members"])
Email = Annotated[str, Path(description="the member's address (any letter case)",
                            examples=["alice@example.org"])]
MAX_PAGE = 1000
MemberSettings = settings_model("MemberSettings", MEMBER_SETTINGS)


class MemberOut(BaseModel):
    """A member as ``listserv members list --json`` prints it."""

    address: str
    display_name: str
    role: Role
    delivery_mode: DeliveryMode
    delivery_status: DeliveryStatus
    moderated: bool
    receive_own_posts: bool
    skip_if_addressed: bool
    bounce_score: float
    created_at: datetime


class MemberPage(BaseModel):
    members: list[MemberOut]
    total: int = Field(description="members on the list")
    next_after: str | None = Field(description="pass as ?after= for the next page; "
                                   "null on the last page")


class NewMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(examples=["Alice Example <alice@example.org>"])
    display_name: str = Field("", description="default: the name in address, if any")
    role: Role = Role.MEMBER


class Invalid(BaseModel):
    line: int = Field(description="the line of the CSV, or the position in the JSON array "
                      "(from 1)")
    error: str


class ImportReport(BaseModel):
    added: int
    already_members: list[str]
    invalid: list[Invalid] = Field(description="entries skipped, with the reason")


@router.get("", response_model=MemberPage, summary="the members, a page at a time",
            responses=responses(404),
            description="In address order (stable). Page with ?after=next_after, or with "
                        "?page=N (from 1).")
async def list_members(context: Context, address: ListAddress,
                       limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
                       after: str | None = None,
                       page: Annotated[int | None, Query(ge=1, le=10**7)] = None
                       ) -> dict[str, Any]:
    if after and page:
        raise ListservError("give after or page, not both")
    try:
        key = parse_address(after).key if after else ""
    except InvalidAddress as exc:
        raise InvalidAddress(f"after: {exc}") from None
    offset = (page - 1) * limit if page else 0
    async with context.sessions() as session:
        mlist = await get_list(session, address)
        rows = await db_members.list_members(session, mlist, after=key, offset=offset,
                                             limit=limit + 1)
        total = await db_members.count_members(session, mlist)
    shown = rows[:limit]
    return {"members": [db_members.describe_member(member) for member in shown],
            "total": total, "next_after": shown[-1].match_key if len(rows) > limit else None}


@router.post("", status_code=201, response_model=MemberOut, summary="subscribe an address",
             responses=responses(404, 409, 415),
             description="No confirmation is asked and no welcome sent, as with "
                         "'listserv members add'.")
async def add_member(context: Context, address: ListAddress, body: NewMember) -> dict[str, Any]:
    name, mailbox = parse_mailbox(body.address)
    display_name = checked("display_name", body.display_name or name, MEMBER_SETTINGS)
    async with context.sessions.begin() as session:
        mlist = await get_list(session, address)
        member = await db_members.add_member(session, mlist, mailbox,
                                             display_name=display_name, role=body.role)
        return db_members.describe_member(member)


@router.post("/import", response_model=ImportReport, summary="subscribe many addresses",
             responses=responses(404, 415), openapi_extra=ROSTER_BODY,
             description="As 'listserv members import': addresses already members are "
                         "skipped, invalid entries reported and skipped, the rest added.")
async def import_members(context: Context, address: ListAddress,
                         request: Request) -> dict[str, Any]:
    body = await request.body()
    entries, errors = await in_worker(read_body, request.headers, body)
    async with context.sessions.begin() as session:
        mlist = await get_list(session, address)
        result = await db_members.import_members(session, mlist, entries)
    await db_members.after_import(context.sessions, result)
    return {"added": result.added,
            "already_members": [str(entry.mailbox) for entry in result.already_members],
            "invalid": [{"line": error.line, "error": error.message} for error in errors]}


@router.get("/{email}", response_model=MemberOut, summary="one member",
            responses=responses(404))
async def show_member(context: Context, address: ListAddress, email: Email) -> dict[str, Any]:
    async with context.sessions() as session:
        mlist = await get_list(session, address)
        return db_members.describe_member(await db_members.get_member(session, mlist, email))


@router.patch("/{email}", response_model=MemberOut, summary="change a member",
              responses=responses(404, 415),
              description="Each value is checked as by 'listserv members set'.")
async def set_member(context: Context, address: ListAddress, email: Email,
                     body: MemberSettings) -> dict[str, Any]:  # type: ignore[valid-type]
    values = parsed(body, MEMBER_SETTINGS)
    async with context.sessions.begin() as session:
        mlist = await get_list(session, address)
        member = await db_members.get_member(session, mlist, email)
        db_members.update_member(member, values)
        return db_members.describe_member(member)


@router.delete("/{email}", status_code=204, response_class=Response,
               summary="unsubscribe a member (no goodbye is sent)", responses=responses(404))
async def remove_member(context: Context, address: ListAddress, email: Email) -> None:
    async with context.sessions.begin() as session:
        mlist = await get_list(session, address)
        await db_members.remove_member(session, await db_members.get_member(session, mlist,
                                                                            email))
