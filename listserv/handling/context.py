# SPDX-License-Identifier: Apache-2.0
"""One unit of work: a transaction, the site's settings, its moment, and the lists it read.

Every flow in handling takes a Work (and the list it is about). The workers
and the CLI build it the same way, with unit_of_work(). Lists, policies and
rosters are read once per unit of work; rosters outlive it when the processor
passes its own dict of them, and are re-read only when they changed. A change
this transaction makes to a list or a member (through the ORM) makes the next
read of that list's policy and roster fresh: nobody has to remember to forget.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from listserv.core.policy import ListPolicy, Subscriber
from listserv.db import outbox
from listserv.db.engine import Sessions
from listserv.db.lists import find_list
from listserv.db.models import MailingList, Member, now
from listserv.db.roster import load_subscribers, roster_version
from listserv.db.snapshots import load_policy
from listserv.metrics import Metrics
from listserv.settings import Settings

# list id -> (roster version, members by match key)
Rosters = dict[int, tuple[tuple[int, datetime | None], dict[str, Subscriber]]]


@dataclass(eq=False)
class Work:
    """The transaction one unit of work runs in, and what it has read and queued so far."""

    session: AsyncSession
    settings: Settings
    now: datetime
    origin: str = ""  # what is being handled, for the log: a Message-ID, "housekeeping"…
    worker: str = ""  # the process doing the work (host:pid), recorded on what it claims
    metrics: Metrics | None = None  # the running server's; None in the CLI
    rosters: Rosters = field(default_factory=dict)  # may be shared between units of work
    lease: outbox.Lease | None = None  # jobs queued are leased to the worker that queues them
    leased: list[outbox.Claimed] = field(default_factory=list)
    queued: int = 0  # recipients queued in this transaction
    accepted: dict[int, int] = field(default_factory=dict)  # list id -> posts in flood window
    _lists: dict[str, MailingList | None] = field(default_factory=dict)
    _policies: dict[int, ListPolicy] = field(default_factory=dict)
    _checked: set[int] = field(default_factory=set)  # rosters known current in this unit

    def __post_init__(self) -> None:
        event.listen(self.session.sync_session, "before_flush", self._before_flush)

    def message_id(self) -> str:
        """A new Message-ID for mail listserv writes."""
        return make_msgid(domain=self.settings.hostname)

    async def find_list(self, key: str) -> MailingList | None:
        """The list at this match key (or a former address of it)."""
        if key not in self._lists:
            self._lists[key] = await find_list(self.session, key)
        return self._lists[key]

    async def policy(self, mlist: MailingList) -> ListPolicy:
        """The list's settings as the core reads them."""
        await self._flush_changes()
        if mlist.id not in self._policies:
            self._policies[mlist.id] = await load_policy(self.session, mlist,
                                                         self.settings.base_url)
        return self._policies[mlist.id]

    async def roster(self, mlist: MailingList) -> dict[str, Subscriber]:
        """The list's members by match key, re-read only when the roster changed."""
        await self._flush_changes()
        if mlist.id not in self._checked:
            version = await roster_version(self.session, mlist.id)
            known = self.rosters.get(mlist.id)
            if known is None or known[0] != version:
                members = await load_subscribers(self.session, mlist.id)
                self.rosters[mlist.id] = (version, {s.key: s for s in members})
            self._checked.add(mlist.id)
        return self.rosters[mlist.id][1]

    async def _flush_changes(self) -> None:
        session = self.session
        if session.new or session.dirty or session.deleted:
            await session.flush()  # before_flush sees what changed

    def _before_flush(self, session: Session, context: Any, instances: Any) -> None:
        for changed in (*session.new, *session.dirty, *session.deleted):
            if isinstance(changed, Member):
                self._forget(changed.list_id)
            elif isinstance(changed, MailingList):
                self._forget(changed.id)

    def _forget(self, list_id: int | None) -> None:
        if list_id is None:
            return
        self._policies.pop(list_id, None)
        self._checked.discard(list_id)
        self.rosters.pop(list_id, None)


@asynccontextmanager
async def unit_of_work(sessions: Sessions, settings: Settings, *, origin: str = "",
                       worker: str = "", moment: datetime | None = None,
                       rosters: Rosters | None = None, lease: outbox.Lease | None = None,
                       metrics: Metrics | None = None) -> AsyncIterator[Work]:
    """A Work in a new transaction, committed when the block ends without an error."""
    async with sessions.begin() as session:
        yield Work(session, settings, moment or now(), origin, worker, metrics,
                   rosters if rosters is not None else {}, lease)
