# SPDX-License-Identifier: Apache-2.0
"""CPU work on mail off the event loop: in a worker thread, from a size on.

The SMTP listeners, the web side and the workers of ``listserv serve`` share
one event loop, and no client is answered while it computes: parsing,
deciding, rendering, checking and signing a 1 MB post of many parts takes
hundreds of milliseconds (#14.2). Such calls go to a thread; the loop serves
meanwhile. Only pure functions on plain values go there: never a database
session or a row of it. Below INLINE_BELOW octets the work takes a few
milliseconds at most, less than the hop would add to it, and runs on the loop.

The threads are few: one per core beside the loop's. Python runs one thread
at a time, and much of this work (the email parser, dkimpy's regular
expressions over a whole body) holds the interpreter for 10 ms and more at a
stretch. Each further busy thread is one more the loop waits behind every
time it gives the interpreter up for a system call: with asyncio's default
pool (up to 32 threads) four threads signing the same 1 MB post at once kept
probes of the loop waiting up to 400 ms. Blocking I/O (DNS, files) keeps
asyncio's default pool.

Work that is many short calls, each holding the interpreter for a while and
then leaving it for OpenSSL, goes to processes instead (in_process): signing
personal copies, 0.1 ms of Python and 0.3 ms of RSA each, cost the loop
more in a thread (the two threads taking turns at the interpreter around every
signature) than on the loop itself. The processes, one per core beside the
loop's, start on first use or ahead of it (start_processes, importing what
they will run), spawned: nothing of the server's state is copied. They take
their work in batches; arguments and results are pickled.
A process that dies breaks the pool: the call fails, and the next starts a
new pool.
"""

import asyncio
import contextvars
import functools
import importlib
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

INLINE_BELOW = 64 * 1024  # octets of mail


async def off_loop(size: int, function: Callable[P, T], /, *args: P.args,
                   **kwargs: P.kwargs) -> T:
    """function(*args, **kwargs) in a worker thread when it works on size octets or more."""
    if size < INLINE_BELOW:
        return function(*args, **kwargs)
    return await in_worker(function, *args, **kwargs)


def in_worker(function: Callable[P, T], /, *args: P.args,
              **kwargs: P.kwargs) -> "asyncio.Future[T]":
    """function(*args, **kwargs) started in a worker thread, in the caller's context (its logs
    name the same message)."""
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return asyncio.get_running_loop().run_in_executor(_workers(), call)


def spare_cores() -> int:
    """The cores beside the event loop's (0 on a single core: processes would only take turns
    with the loop)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max((cores or 1) - 1, 0)


def in_process(function: Callable[..., T], /, *args: object) -> "asyncio.Future[T]":
    """function(*args) started in a worker process; function and arguments must pickle."""
    loop = asyncio.get_running_loop()
    try:
        return loop.run_in_executor(_processes(), function, *args)
    except BrokenProcessPool:  # a process died since the last call: start anew
        _processes.cache_clear()
        return loop.run_in_executor(_processes(), function, *args)


def start_processes(*modules: str) -> None:
    """Start the worker processes now, each importing modules, rather than at the first
    call: a spawned process takes a few hundred milliseconds to import what it runs (the
    signing code 0.3 s), which the first post after a start would wait for."""
    for _ in range(_pool_size()):  # the pool starts a process for each call while none idles
        _processes().submit(_imported, modules)


def stop_processes() -> None:
    """Stop the worker processes, if any were started (at the end of serve)."""
    if _processes.cache_info().currsize:
        _processes().shutdown(cancel_futures=True)
        _processes.cache_clear()


def _pool_size() -> int:
    """Workers in a pool, threads or processes: one per core beside the loop's."""
    return max(spare_cores(), 1)


def _imported(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


@functools.cache
def _processes() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=_pool_size(),
                               mp_context=multiprocessing.get_context("spawn"))


@functools.cache
def _workers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_pool_size(),
                              thread_name_prefix="listserv-cpu")
