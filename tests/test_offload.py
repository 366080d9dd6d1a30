# SPDX-License-Identifier: Apache-2.0
"""Work handed to worker processes (listserv.offload.in_process)."""

import os
import sys
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

import pytest

from listserv.offload import in_process, spare_cores, start_processes, stop_processes


@pytest.fixture(autouse=True)
def processes() -> Iterator[None]:
    yield
    stop_processes()


async def test_a_call_runs_in_another_process() -> None:
    assert await in_process(os.getpid) != os.getpid()


async def test_a_process_that_dies_fails_its_call_and_the_next_call_gets_a_new_one() -> None:
    first = await in_process(os.getpid)
    with pytest.raises(BrokenProcessPool):
        await in_process(os._exit, 1)
    assert await in_process(os.getpid) not in (first, os.getpid())


def test_the_loop_keeps_a_core_of_its_own() -> None:
    assert spare_cores() == len(os.sched_getaffinity(0)) - 1


async def test_processes_started_ahead_have_imported_what_they_will_run() -> None:
    start_processes("json.tool")  # imported by nothing else a worker process runs
    assert await in_process(_imported, "json.tool")


def _imported(module: str) -> bool:
    return module in sys.modules
