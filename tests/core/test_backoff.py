# SPDX-License-Identifier: Apache-2.0
from datetime import UTC, datetime, timedelta

import pytest

from listserv.core.backoff import RetryPolicy

POLICY = RetryPolicy(timedelta(seconds=60), timedelta(hours=1), timedelta(hours=120))
NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.mark.parametrize(("attempts", "wait"), [
    (1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (50, 3600), (10_000, 3600)])
def test_the_wait_doubles_up_to_the_maximum(attempts: int, wait: int) -> None:
    assert POLICY.next_attempt(attempts, NOW, jitter=0.0) == NOW + timedelta(seconds=wait)


def test_jitter_takes_at_most_a_quarter_off() -> None:
    earliest = POLICY.next_attempt(3, NOW, jitter=0.999999)
    assert NOW + timedelta(seconds=180) <= earliest < NOW + timedelta(seconds=181)


def test_it_gives_up_after_the_give_up_time() -> None:
    assert not POLICY.gives_up(NOW - timedelta(hours=119, minutes=59), NOW)
    assert POLICY.gives_up(NOW - timedelta(hours=120), NOW)
