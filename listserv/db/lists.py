# SPDX-License-Identifier: Apache-2.0
"""Queries on lists and their aliases: find, create, change, rename, delete."""

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.addresses import Mailbox, check_list_address, parse_address, shown
from listserv.core.list_settings import LIST_SETTINGS, inconsistencies
from listserv.core.passwords import hash_password
from listserv.core.policy import Role
from listserv.core.urls import moved
from listserv.db.members import count_members
from listserv.db.models import ListAlias, MailingList, Member
from listserv.errors import Conflict, InvalidAddress, NotFound, SettingError


async def find_list(session: AsyncSession, key: str) -> MailingList | None:
    """The list whose address or former address (alias) has this match key."""
    found = await session.scalar(select(MailingList).where(MailingList.address == key))
    if found is not None:
        return found
    return await session.scalar(
        select(MailingList).join(ListAlias, ListAlias.list_id == MailingList.id)
        .where(ListAlias.address == key))


async def list_by_id(session: AsyncSession, list_id: int) -> MailingList | None:
    return await session.get(MailingList, list_id)


async def get_list_by_id(session: AsyncSession, list_id: int) -> MailingList:
    return await session.get_one(MailingList, list_id)


async def find_list_id(session: AsyncSession, key: str) -> int | None:
    """Like find_list, but only the id: the cheap question RCPT TO asks."""
    found = await session.scalar(select(MailingList.id).where(MailingList.address == key))
    if found is None:
        found = await session.scalar(select(ListAlias.list_id).where(ListAlias.address == key))
    return found


async def get_list(session: AsyncSession, address: str) -> MailingList:
    """The list at this address (or alias), or NotFound."""
    try:
        key = parse_address(address).key
    except InvalidAddress:
        raise NotFound(f"no such list: {address}") from None
    found = await find_list(session, key)
    if found is None:
        raise NotFound(f"no such list: {address}")
    return found


async def all_lists(session: AsyncSession) -> Sequence[MailingList]:
    return (await session.scalars(select(MailingList).order_by(MailingList.address))).all()


async def served_domain(session: AsyncSession, domain: str) -> bool:
    """Whether some list or alias lives in this (IDNA, lower-case) domain."""
    pattern = f"%@{domain}"
    for column in (MailingList.address, ListAlias.address):
        if await session.scalar(select(func.count()).where(column.like(pattern))):
            return True
    return False


async def _check_free(session: AsyncSession, key: str) -> None:
    if await find_list(session, key) is not None:
        raise Conflict(f"a list or list alias already has the address {key}")


def _check_domain(mailbox: Mailbox, domains: Sequence[str]) -> None:
    if domains and mailbox.key.partition("@")[2] not in domains:
        raise InvalidAddress(
            f"{mailbox} is not in a served domain (LISTSERV_DOMAINS: {', '.join(domains)})")


async def create_list(session: AsyncSession, address: str, *, display_name: str = "",
                      owners: Iterable[tuple[str, Mailbox]] = (),
                      domains: Sequence[str] = ()) -> MailingList:
    """Create a list with default settings; owners (name, mailbox) become owner members."""
    mailbox = check_list_address(address)
    _check_domain(mailbox, domains)
    key = mailbox.key
    await _check_free(session, key)
    local = key.partition("@")[0]
    mlist = MailingList(address=key, display_name=display_name or local,
                        list_id=key.replace("@", "."), subject_prefix=f"[{local}]")
    session.add(mlist)
    await session.flush()
    for name, owner in owners:
        session.add(Member(list_id=mlist.id, address=str(owner), match_key=owner.key,
                           display_name=name, role=Role.OWNER))
    await session.flush()
    return mlist


def update_list(mlist: MailingList, values: Mapping[str, Any]) -> None:
    """Apply parsed settings (core.list_settings) to a list; SettingError (and the caller's
    transaction rolls back) if they do not fit together."""
    for name, value in values.items():
        if name == "moderator_password":
            mlist.moderator_password_hash = hash_password(value, os.urandom(16))
        else:
            setattr(mlist, name, value)
    current = {name: getattr(mlist, name) for name, setting in LIST_SETTINGS.items()
               if not setting.secret}
    problems = inconsistencies(current)
    if problems:
        raise SettingError("; ".join(problems))


async def rename_list(session: AsyncSession, mlist: MailingList, new_address: str,
                      domains: Sequence[str] = ()) -> None:
    """Move a list to a new address; the old one keeps working as an alias.

    The subject prefix, display name and archive URL follow where they hold
    the old address's defaults or the old address itself.
    """
    mailbox = check_list_address(new_address)
    _check_domain(mailbox, domains)
    old_key, new_key = mlist.address, mailbox.key
    alias = await session.scalar(select(ListAlias).where(ListAlias.address == new_key,
                                                         ListAlias.list_id == mlist.id))
    if alias is not None:  # renaming back to a former name
        await session.delete(alias)
        await session.flush()
    else:
        await _check_free(session, new_key)
    old_local, new_local = old_key.partition("@")[0], new_key.partition("@")[0]
    if mlist.subject_prefix == f"[{old_local}]":
        mlist.subject_prefix = f"[{new_local}]"
    if mlist.display_name == old_local:
        mlist.display_name = new_local
    mlist.archive_url = moved(mlist.archive_url, old_key, new_key)
    mlist.address = new_key
    session.add(ListAlias(list_id=mlist.id, address=old_key))
    await session.flush()


async def delete_list(session: AsyncSession, mlist: MailingList) -> None:
    """Delete a list with its members, aliases, held posts and archive."""
    await session.execute(delete(MailingList).where(MailingList.id == mlist.id))


async def list_aliases(session: AsyncSession, mlist: MailingList) -> list[str]:
    rows = await session.scalars(select(ListAlias.address).where(ListAlias.list_id == mlist.id)
                                 .order_by(ListAlias.id))
    return list(rows)


async def describe_list(session: AsyncSession, mlist: MailingList) -> dict[str, Any]:
    """The list, its aliases, member count and settings as plain JSON-able data; secrets
    only say whether they are set."""
    settings: dict[str, Any] = {}
    for name, setting in LIST_SETTINGS.items():
        if setting.secret:
            settings[name] = "set" if getattr(mlist, f"{name}_hash") else "unset"
        else:
            settings[name] = getattr(mlist, name)
    # The key keeps a domain in A-labels; people read it in U-labels (RFC 6530).
    aliases = [shown(alias) for alias in await list_aliases(session, mlist)]
    return {"address": shown(mlist.address), "aliases": aliases,
            "members": await count_members(session, mlist),
            "created_at": mlist.created_at.isoformat(), "settings": settings}
