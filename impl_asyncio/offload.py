"""Blocking calls in worker threads in raw asyncio: an executor under a Semaphore, waited for after a cancel.

Contract and docstrings: :class:`shared.offload.Offload`.

Why not ``asyncio.to_thread`` under a Semaphore: ``to_thread`` runs on the loop's default
executor, which has ``min(32, os.cpu_count() + 4)`` threads (6 on a 2-core machine), so a
``Semaphore(limit)`` above it cannot run more than that at once whatever ``limit`` says. Here
an executor of ``limit`` threads is the pool and a ``Semaphore(limit)`` in the loop the bound,
as ``CapacityLimiter(limit)`` is in Trio and AnyIO, and the calls go to the executor the way
``to_thread`` sends them to the default one: ``run_in_executor`` of
``contextvars.copy_context().run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from shared.errors import one_error
from shared.offload import OffloadError, Report, check_offload_args, check_on_progress

__all__ = ["run_in_threads", "run_in_threads_reporting"]

T = TypeVar("T")
R = TypeVar("R")
OnProgress = Callable[[Any, object], Awaitable[object]]


# --- Only in asyncio: after a cancel, wait for the thread as trio.to_thread.run_sync does ---


async def _outcome(future: Future[R], stopping: threading.Event, abandon_on_cancel: bool) -> R:
    """The result of ``future``, whose call runs in a thread, with Trio's and AnyIO's rules for a cancel.

    ``await asyncio.wrap_future(future)`` alone is ``asyncio.to_thread``'s rule: a cancel stops
    the waiting at once and the thread runs on, owned by nobody. Here a cancel drops the call
    if it is still queued; if it is running, this waits for it to end through every further
    cancel (unless ``abandon_on_cancel``), and then the cancel goes on, or the call's own
    error if it failed, as in Trio.
    """
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        stopping.set()
        if not future.cancel() and not abandon_on_cancel:
            ended = asyncio.wrap_future(future)
            while not ended.done():
                # asyncio's cancellation is edge-triggered: each new cancel lands here once.
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([ended])
            ended.result()
        raise


# --- Reports from the thread ---------------------------------------------------------------


async def _progress(on_progress: OnProgress, item: object, value: object) -> None:
    # A task of its own that nobody cancels: a report that has started runs to its end, as
    # a cleanup would.
    await on_progress(item, value)


def _reporter(
    loop: asyncio.AbstractEventLoop, stopping: threading.Event, on_progress: OnProgress, item: object
) -> Report:
    def report(value: object) -> bool:
        if stopping.is_set():
            return False
        # Runs _progress in the loop, and blocks until it is done.
        asyncio.run_coroutine_threadsafe(_progress(on_progress, item, value), loop).result()
        return not stopping.is_set()

    return report


# --- One call ------------------------------------------------------------------------------


async def _call(
    limiter: asyncio.Semaphore,
    executor: ThreadPoolExecutor,
    func: Callable[..., Any],
    index: int,
    item: object,
    on_progress: OnProgress | None,
    abandon_on_cancel: bool,
    results: list[Any],
) -> None:
    # Set when this call's task is cancelled: the thread reads it, as Trio's reads its task's state.
    stopping = threading.Event()
    loop = asyncio.get_running_loop()
    args = (item,) if on_progress is None else (item, _reporter(loop, stopping, on_progress, item))
    try:
        async with limiter:
            # Waits for the thread through a cancel unless abandon_on_cancel (see _outcome), and
            # copies the context for the call, as asyncio.to_thread does.
            future = executor.submit(contextvars.copy_context().run, func, *args)
            results[index] = await _outcome(future, stopping, abandon_on_cancel)
    except Exception as exc:
        raise OffloadError(index, item, exc) from exc


# --- Every call ----------------------------------------------------------------------------


async def _run_all(
    func: Callable[..., R], items: list[Any], limit: int, on_progress: OnProgress | None, abandon_on_cancel: bool
) -> list[R]:
    results: list[Any] = [None] * len(items)
    # A thread per call, `limit` at a time: the items beyond wait for a token, not a thread.
    # In the loop, not in the executor's queue, where a thread freed while the loop is busy
    # would take the next item before a failure or a cancel could drop it.
    limiter = asyncio.Semaphore(limit)
    # Its threads start on demand, so no item starts none.
    executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="offload")
    try:
        async with asyncio.TaskGroup() as calls:
            for index, item in enumerate(items):
                calls.create_task(_call(limiter, executor, func, index, item, on_progress, abandon_on_cancel, results))
    except BaseExceptionGroup as group:
        raise one_error(group, failure=OffloadError)
    finally:
        # Every call has ended, or was abandoned: the threads need no joining, they leave
        # once idle (Trio and AnyIO keep theirs in a cache instead).
        executor.shutdown(wait=False, cancel_futures=True)
    return results


# --- Public API ----------------------------------------------------------------------------


async def run_in_threads(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    limit: int,
    abandon_on_cancel: bool = False,
) -> list[R]:
    """Contract: :meth:`shared.offload.Offload.run_in_threads`."""
    item_list, limit = check_offload_args(func, items, limit, abandon_on_cancel)
    return await _run_all(func, item_list, limit, None, abandon_on_cancel)


async def run_in_threads_reporting(
    func: Callable[[T, Report], R],
    items: Iterable[T],
    *,
    limit: int,
    on_progress: Callable[[T, object], Awaitable[object]],
    abandon_on_cancel: bool = False,
) -> list[R]:
    """Contract: :meth:`shared.offload.Offload.run_in_threads_reporting`."""
    item_list, limit = check_offload_args(func, items, limit, abandon_on_cancel)
    check_on_progress(on_progress)
    return await _run_all(func, item_list, limit, on_progress, abandon_on_cancel)
