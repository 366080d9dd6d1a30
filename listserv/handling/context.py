# SPDX-License-Identifier: Apache-2.0
"""What one processing transaction shares: the site settings, and lists read once.

A batch of inbound messages is processed in one transaction; the lists,
policies and rosters it needs are read once for the lot. Rosters outlive the
batch and are re-read only when they changed.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core.policy import ListPolicy, Subscriber
from listserv.db import outbox
from listserv.db.lists import find_list
from listserv.db.models import MailingList
from listserv.db.roster import load_subscribers, roster_version
from listserv.db.snapshots import load_policy
from listserv.settings import Settings

# list id -> (roster version, members by match key)
Rosters = dict[int, tuple[tuple[int, datetime | None], dict[str, Subscriber]]]


@dataclass(frozen=True, slots=True)
class Site:
    """The site settings processing needs."""

    hostname: str
    max_recipients_per_transaction: int
    autoresponses_per_day: int
    confirm_days: int  # a confirmation request expires after this many days
    confirmations_per_day: int  # request mails to one address of one list per day
    trusted_authserv_id: str | None = None  # the front MTA whose Authentication-Results count
    dns_nameserver: tuple[str, int] | None = None  # for DMARC lookups; None: the system's
    seal_as: str | None = None  # the authserv-id of listserv's ARC seals; None: no key to seal

    @classmethod
    def from_settings(cls, settings: Settings) -> "Site":
        return cls(settings.hostname, settings.max_recipients_per_transaction,
                   settings.autoresponses_per_day, settings.confirm_days,
                   settings.confirmations_per_day, settings.trusted_authserv_id,
                   settings.dns_nameserver,
                   settings.hostname if _seals(settings) else None)


def _seals(settings: Settings) -> bool:
    """Whether an RSA key is configured, to seal posts with (ARC knows no Ed25519)."""
    return settings.dkim_private_key is not None or any(
        key.private_key is not None for key in settings.dkim_keys.values())


@dataclass
class ListCache:
    """Lists, policies and rosters read once per batch of messages (one transaction)."""

    lease: outbox.Lease | None = None  # jobs queued are leased to the worker that queues them
    leased: list[outbox.Claimed] = field(default_factory=list)
    lists: dict[str, MailingList | None] = field(default_factory=dict)
    queued: int = 0  # recipients queued in this transaction
    policies: dict[int, ListPolicy] = field(default_factory=dict)
    rosters: Rosters = field(default_factory=dict)  # shared between batches
    checked: set[int] = field(default_factory=set)  # rosters known current in this batch
    accepted: dict[int, int] = field(default_factory=dict)  # posts accepted in the flood window

    async def find_list(self, session: AsyncSession, key: str) -> MailingList | None:
        if key not in self.lists:
            self.lists[key] = await find_list(session, key)
        return self.lists[key]

    async def policy(self, session: AsyncSession, mlist: MailingList) -> ListPolicy:
        if mlist.id not in self.policies:
            self.policies[mlist.id] = await load_policy(session, mlist)
        return self.policies[mlist.id]

    def forget(self, mlist: MailingList) -> None:
        """The list's settings or roster changed in this transaction: read them again."""
        self.policies.pop(mlist.id, None)
        self.checked.discard(mlist.id)
        self.rosters.pop(mlist.id, None)

    async def roster(self, session: AsyncSession, mlist: MailingList) -> dict[str, Subscriber]:
        """The list's members by match key, re-read only when the roster changed."""
        if mlist.id not in self.checked:
            version = await roster_version(session, mlist.id)
            known = self.rosters.get(mlist.id)
            if known is None or known[0] != version:
                members = await load_subscribers(session, mlist.id)
                self.rosters[mlist.id] = (version, {s.key: s for s in members})
            self.checked.add(mlist.id)
        return self.rosters[mlist.id][1]
