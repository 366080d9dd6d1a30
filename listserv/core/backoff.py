# SPDX-License-Identifier: Apache-2.0
"""When to try a delivery again: exponential backoff with jitter, and when to give up."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: timedelta  # the wait after the first failure
    maximum: timedelta  # the wait never grows past this
    give_up: timedelta  # a message still undelivered this long after queueing fails for good

    def next_attempt(self, attempts: int, now: datetime, jitter: float) -> datetime:
        """After the given number of failed attempts: initial, doubling up to maximum.

        jitter (0 <= jitter < 1, the caller's randomness) takes up to a quarter
        off the wait, so a backlog that failed together is not retried all at
        one moment when the smarthost comes back.
        """
        doublings = min(max(attempts - 1, 0), 32)
        wait: timedelta = min(self.initial * 2 ** doublings, self.maximum)
        return now + wait * (1 - jitter / 4)

    def gives_up(self, queued_at: datetime, now: datetime) -> bool:
        return now - queued_at >= self.give_up
