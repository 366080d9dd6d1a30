# SPDX-License-Identifier: Apache-2.0
"""Fan-out: who gets a copy of an accepted post, and in which transactions."""

from collections.abc import Iterable, Sequence

from listserv.core.addresses import needs_smtputf8
from listserv.core.message import Post, address_keys
from listserv.core.policy import DeliveryMode, DeliveryStatus, Subscriber

DIGEST_MODES = frozenset({DeliveryMode.DIGEST_MIME, DeliveryMode.DIGEST_PLAIN})


def regular_recipients(subscribers: Iterable[Subscriber], post: Post) -> list[str]:
    """Members who get this post now, sorted by domain so transactions group well.

    Digest, nomail and disabled members get nothing here; members who asked
    not to see their own posts, or no list copy when addressed directly, are
    skipped accordingly.
    """
    addressed = set(address_keys(post.message, "To", "Cc"))
    chosen = [s for s in subscribers
              if s.delivery_mode is DeliveryMode.REGULAR
              and s.delivery_status is DeliveryStatus.ENABLED
              and not (s.key == post.author and not s.receive_own_posts)
              and not (s.skip_if_addressed and s.key in addressed and s.key != post.author)]
    return [s.address for s in sorted(chosen, key=_domain_order)]


def digest_recipients(subscribers: Iterable[Subscriber], mode: DeliveryMode) -> list[str]:
    """Members who take the list as a digest in this format (and whose delivery is on),
    sorted by domain like regular recipients."""
    chosen = [s for s in subscribers
              if s.delivery_mode is mode and mode in DIGEST_MODES
              and s.delivery_status is DeliveryStatus.ENABLED]
    return [s.address for s in sorted(chosen, key=_domain_order)]


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
