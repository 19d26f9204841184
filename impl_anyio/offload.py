"""Blocking calls in worker threads in AnyIO: ``anyio.to_thread.run_sync`` under a CapacityLimiter.

Contract and docstrings: :class:`shared.offload.Offload`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import anyio

from shared.errors import one_error
from shared.offload import OffloadError, Report, check_offload_args, check_on_progress

__all__ = ["run_in_threads", "run_in_threads_reporting"]

T = TypeVar("T")
R = TypeVar("R")
OnProgress = Callable[[Any, object], Awaitable[object]]


# --- Only in Trio and AnyIO: a worker thread asks the library whether its task was cancelled ---


def _stopping(cancelled: type[BaseException]) -> bool:
    # Here the library is unknown: the task handed over its cancellation class.
    try:
        anyio.from_thread.check_cancelled()
    except cancelled:
        return True
    return False


# --- Reports from the thread ---------------------------------------------------------------


async def _progress(on_progress: OnProgress, item: object, value: object) -> None:
    # A shielded scope: a report that has started runs to its end, as a cleanup would.
    with anyio.CancelScope(shield=True):
        await on_progress(item, value)


def _reporter(on_progress: OnProgress, item: object, cancelled: type[BaseException]) -> Report:
    def report(value: object) -> bool:
        if _stopping(cancelled):
            return False
        # Runs _progress in the cancel scope of the task waiting for this thread, and blocks
        # until it is done.
        anyio.from_thread.run(_progress, on_progress, item, value)
        return not _stopping(cancelled)

    return report


# --- One call ------------------------------------------------------------------------------


async def _call(
    limiter: anyio.CapacityLimiter,
    func: Callable[..., Any],
    index: int,
    item: object,
    on_progress: OnProgress | None,
    abandon_on_cancel: bool,
    results: list[Any],
) -> None:
    # The cancellation class is the running backend's, so it is looked up here, in the loop.
    args = (item,) if on_progress is None else (item, _reporter(on_progress, item, anyio.get_cancelled_exc_class()))
    try:
        # Waits for the thread through a cancel unless abandon_on_cancel, and copies the
        # context for the call.
        results[index] = await anyio.to_thread.run_sync(
            func, *args, limiter=limiter, abandon_on_cancel=abandon_on_cancel
        )
    except Exception as exc:
        raise OffloadError(index, item, exc) from exc


# --- Every call ----------------------------------------------------------------------------


async def _run_all(
    func: Callable[..., R], items: list[Any], limit: int, on_progress: OnProgress | None, abandon_on_cancel: bool
) -> list[R]:
    results: list[Any] = [None] * len(items)
    # A thread per call, `limit` at a time: the items beyond wait for a token, not a thread.
    limiter = anyio.CapacityLimiter(limit)
    try:
        async with anyio.create_task_group() as calls:
            for index, item in enumerate(items):
                calls.start_soon(_call, limiter, func, index, item, on_progress, abandon_on_cancel, results)
    except BaseExceptionGroup as group:
        raise one_error(group, failure=OffloadError)
    # A thread that ends after a cancel hands back its result (nothing to abandon): the
    # cancel still propagates (the contract): nothing above has checked for it.
    await anyio.lowlevel.checkpoint_if_cancelled()
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
