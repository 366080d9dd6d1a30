# SPDX-License-Identifier: Apache-2.0
"""/lists: create, list, show, change, rename and delete lists, as ``listserv lists`` does."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from listserv.core.addresses import parse_mailbox
from listserv.core.list_settings import LIST_SETTINGS, MEMBER_SETTINGS
from listserv.db import lists as db_lists
from listserv.web.api.common import Context, ListAddress, checked, parsed, settings_model
from listserv.web.api.errors import responses

router = APIRouter(prefix="/lists", tags=["lists"])
ListSettings = settings_model("ListSettings", LIST_SETTINGS)


class ListOut(BaseModel):
    """A list as ``listserv lists show --json`` prints it."""

    address: str
    aliases: list[str] = Field(description="former addresses, still delivered to")
    members: int
    created_at: datetime
    settings: dict[str, Any] = Field(description="every setting of 'lists set' by name; "
                                     "secrets say only set or unset")


class NewList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(examples=["ops@example.com"])
    display_name: str = Field("", description="default: the address's local part")
    owners: list[str] = Field([], description="'alice@example.org' or "
                              "'Alice Example <alice@example.org>'; members with role owner")


class NewAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(description="the list's new address; the old one stays an alias")


@router.get("", response_model=list[ListOut], summary="every list")
async def all_lists(context: Context) -> list[dict[str, Any]]:
    async with context.sessions() as session:
        return [await db_lists.describe_list(session, mlist)
                for mlist in await db_lists.all_lists(session)]


@router.post("", status_code=201, response_model=ListOut, summary="create a list",
             responses=responses(409, 415))
async def create_list(context: Context, body: NewList) -> dict[str, Any]:
    owners = [(checked("display_name", name, MEMBER_SETTINGS), mailbox)
              for name, mailbox in map(parse_mailbox, body.owners)]
    display_name = checked("display_name", body.display_name, LIST_SETTINGS)
    async with context.sessions.begin() as session:
        mlist = await db_lists.create_list(session, body.address, display_name=display_name,
                                           owners=owners, domains=context.settings.domains)
        return await db_lists.describe_list(session, mlist)


@router.get("/{address}", response_model=ListOut, summary="a list and its settings",
            responses=responses(404))
async def show_list(context: Context, address: ListAddress) -> dict[str, Any]:
    async with context.sessions() as session:
        return await db_lists.describe_list(session, await db_lists.get_list(session, address))


@router.patch("/{address}", response_model=ListOut, summary="change settings",
              responses=responses(404, 415),
              description="Each value is checked as by 'listserv lists set'; one bad value "
                          "changes nothing (422 names it).")
async def set_list(context: Context, address: ListAddress,
                   body: ListSettings) -> dict[str, Any]:  # type: ignore[valid-type]
    values = parsed(body, LIST_SETTINGS)
    async with context.sessions.begin() as session:
        mlist = await db_lists.get_list(session, address)
        db_lists.update_list(mlist, values)
        return await db_lists.describe_list(session, mlist)


@router.post("/{address}/rename", response_model=ListOut, summary="move a list",
             responses=responses(404, 409, 415))
async def rename_list(context: Context, address: ListAddress,
                      body: NewAddress) -> dict[str, Any]:
    async with context.sessions.begin() as session:
        mlist = await db_lists.get_list(session, address)
        await db_lists.rename_list(session, mlist, body.address, context.settings.domains)
        return await db_lists.describe_list(session, mlist)


@router.delete("/{address}", status_code=204, response_class=Response,
               summary="delete a list with its members and archive", responses=responses(404))
async def delete_list(context: Context, address: ListAddress) -> None:
    async with context.sessions.begin() as session:
        await db_lists.delete_list(session, await db_lists.get_list(session, address))
