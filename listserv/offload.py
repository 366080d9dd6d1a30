# SPDX-License-Identifier: Apache-2.0
"""CPU work on mail off the event loop: in a worker thread, from a size on.

The SMTP listeners, the web side and the workers of ``listserv serve`` share
one event loop, and no client is answered while it computes: parsing,
deciding, rendering, checking and signing a 1 MB post of many parts takes
hundreds of milliseconds (#14.2). Such calls go to a thread; the loop serves
meanwhile. Only pure functions on plain values go there: never a database
session or a row of it. Below INLINE_BELOW octets the work takes a few
milliseconds at most, less than the hop would add to it, and runs on the loop.
"""

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

INLINE_BELOW = 64 * 1024  # octets of mail


async def off_loop(size: int, function: Callable[P, T], /, *args: P.args,
                   **kwargs: P.kwargs) -> T:
    """function(*args, **kwargs) in a worker thread when it works on size octets or more."""
    if size < INLINE_BELOW:
        return function(*args, **kwargs)
    return await asyncio.to_thread(function, *args, **kwargs)
