# SPDX-License-Identifier: Apache-2.0
"""One unit of work: a transaction, the site's settings, its moment, and the lists it read.

Every flow in handling takes a Work (and the list it is about). The workers
and the CLI build it the same way, with unit_of_work(). Lists and policies
are read once per unit of work; members are looked up one at a time, or
streamed (db.roster), never held all at once: a list may have a million. A
change this transaction makes to a list or a member (through the ORM) makes
the next read of that list's policy fresh, and is flushed before a member is
looked up: nobody has to remember to forget.
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
from listserv.db.models import MailingList, now
from listserv.db.roster import find_subscriber
from listserv.db.snapshots import load_policy
from listserv.metrics import Metrics
from listserv.settings import Settings


@dataclass(eq=False)
class Work:
    """The transaction one unit of work runs in, and what it has read and queued so far."""

    session: AsyncSession
    settings: Settings
    now: datetime
    origin: str = ""  # what is being handled, for the log: a Message-ID, "housekeeping"…
    worker: str = ""  # the process doing the work (host:pid), recorded on what it claims
    metrics: Metrics | None = None  # the running server's; None in the CLI
    lease: outbox.Lease | None = None  # jobs queued are leased to the worker that queues them
    leased: list[outbox.Claimed] = field(default_factory=list)
    queued: int = 0  # recipients queued in this transaction
    accepted: dict[int, int] = field(default_factory=dict)  # list id -> posts in flood window
    _lists: dict[str, MailingList | None] = field(default_factory=dict)
    _policies: dict[int, ListPolicy] = field(default_factory=dict)

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

    async def member(self, mlist: MailingList, key: str | None) -> Subscriber | None:
        """The list's member with this match key (None: nobody's)."""
        if not key:
            return None
        await self._flush_changes()
        return await find_subscriber(self.session, mlist.id, key)

    async def _flush_changes(self) -> None:
        session = self.session
        if session.new or session.dirty or session.deleted:
            await session.flush()  # before_flush sees what changed

    def _before_flush(self, session: Session, context: Any, instances: Any) -> None:
        for changed in (*session.new, *session.dirty, *session.deleted):
            if isinstance(changed, MailingList):
                self._policies.pop(changed.id, None)


@asynccontextmanager
async def unit_of_work(sessions: Sessions, settings: Settings, *, origin: str = "",
                       worker: str = "", moment: datetime | None = None,
                       lease: outbox.Lease | None = None,
                       metrics: Metrics | None = None) -> AsyncIterator[Work]:
    """A Work in a new transaction, committed when the block ends without an error."""
    async with sessions.begin() as session:
        yield Work(session, settings, moment or now(), origin, worker, metrics, lease)
