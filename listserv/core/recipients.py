# SPDX-License-Identifier: Apache-2.0
"""Fan-out: who gets a copy of an accepted post, and in which transactions."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from listserv.core.addresses import needs_smtputf8
from listserv.core.message import Post, address_keys
from listserv.core.policy import DeliveryMode, DeliveryStatus, Subscriber

DIGEST_MODES = frozenset({DeliveryMode.DIGEST_MIME, DeliveryMode.DIGEST_PLAIN})


@dataclass(frozen=True, slots=True)
class Audience:
    """What fan-out needs of a post: its author and whom it names in To and Cc (match
    keys), kept with a fan-out that outlives the post's transaction."""

    author: str
    addressed: frozenset[str] = frozenset()


def audience(post: Post) -> Audience:
    return Audience(post.author, frozenset(address_keys(post.message, "To", "Cc")))


def regular_recipients(subscribers: Iterable[Subscriber], post: Audience) -> list[str]:
    """Members who get this post now, sorted by domain so transactions group well.

    Digest, nomail and disabled members get nothing here; members who asked
    not to see their own posts, or no list copy when addressed directly, are
    skipped accordingly.
    """
    chosen = [s for s in subscribers
              if s.delivery_mode is DeliveryMode.REGULAR
              and s.delivery_status is DeliveryStatus.ENABLED
              and not (s.key == post.author and not s.receive_own_posts)
              and not (s.skip_if_addressed and s.key in post.addressed
                       and s.key != post.author)]
    return [s.address for s in sorted(chosen, key=_domain_order)]


def digest_recipients(subscribers: Iterable[Subscriber], mode: DeliveryMode) -> list[str]:
    """Members who take the list as a digest in this format (and whose delivery is on),
    sorted by domain like regular recipients."""
    return [s.address for s in sorted(_digest_members(subscribers, mode), key=_domain_order)]


def digest_groups(subscribers: Iterable[Subscriber], mode: DeliveryMode,
                  collected: Sequence[datetime]) -> dict[tuple[int, ...], list[str]]:
    """The digest members of this format grouped by the posts they get, as indexes into
    collected (when each post was collected, in digest order), each group sorted by domain.

    Most get every post. A member who left regular delivery after the oldest post gets
    only the posts collected since (the earlier ones reached them one by one), or none:
    then they are in no group. One digest per group serves everyone.
    """
    moments = [_utc(moment) for moment in collected]
    oldest = min(moments, default=None)
    starts: dict[datetime | None, list[Subscriber]] = {}
    for member in _digest_members(subscribers, mode):
        since = _utc(member.digest_since) if member.digest_since is not None else None
        late = since is not None and oldest is not None and since > oldest
        starts.setdefault(since if late else None, []).append(member)
    groups: dict[tuple[int, ...], list[Subscriber]] = {}
    for start, members in starts.items():
        if posts := posts_between(moments, start):
            groups.setdefault(posts, []).extend(members)
    return {posts: [s.address for s in sorted(members, key=_domain_order)]
            for posts, members in groups.items()}


def posts_between(collected: Sequence[datetime], since: datetime | None,
                  until: datetime | None = None) -> tuple[int, ...]:
    """The indexes of the posts collected from since (None: the first) until until (None: the
    last), both included: a post collected at the very moment of a switch is the member's,
    as twice beats never."""
    start = _utc(since) if since is not None else None
    end = _utc(until) if until is not None else None
    return tuple(n for n, at in enumerate(map(_utc, collected))
                 if (start is None or at >= start) and (end is None or at <= end))


def _digest_members(subscribers: Iterable[Subscriber], mode: DeliveryMode) -> list[Subscriber]:
    return [s for s in subscribers
            if s.delivery_mode is mode and mode in DIGEST_MODES
            and s.delivery_status is DeliveryStatus.ENABLED]


def _utc(moment: datetime) -> datetime:
    """An aware moment; a naive one is taken as UTC (so comparing never raises)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _domain_order(subscriber: Subscriber) -> tuple[str, str]:
    local, _, domain = subscriber.key.rpartition("@")
    return domain, local


def chunk(recipients: Sequence[str], size: int) -> list[list[str]]:
    """Split recipients into transactions of at most size addresses.

    Addresses that need SMTPUTF8 (RFC 6531) go into transactions of their
    own: the others' never carry the option, and a smarthost without it
    fails only them.
    """
    plain: list[str] = []
    utf8: list[str] = []
    for recipient in recipients:
        (utf8 if needs_smtputf8(recipient) else plain).append(recipient)
    return [group[start:start + size] for group in (plain, utf8)
            for start in range(0, len(group), size)]
