"""Contract: blocking calls in worker threads, at most ``limit`` at once.

Each item of the input goes to a blocking function in a worker thread of the library's own:
``trio.to_thread.run_sync`` and ``anyio.to_thread.run_sync`` under a ``CapacityLimiter`` of
``limit`` tokens, and in asyncio an executor of ``limit`` threads (``impl_asyncio/offload.py``
says why not ``asyncio.to_thread`` and a Semaphore). :class:`Offload` is the specification;
``impl_*/offload.py`` implement it.

Cancellation while calls are in threads
---------------------------------------
A thread cannot be interrupted, and the libraries differ on what a cancelled caller does
about it: ``asyncio.to_thread`` stops waiting at once and the thread runs on, owned by nobody;
Trio and AnyIO wait for the thread unless ``abandon_on_cancel=True``. The contract takes the
careful side on every flavour: when the call returns or raises, no function of ours is still
running in any thread, unless the caller passed ``abandon_on_cancel=True``. So the asyncio
implementation waits for its threads after a cancel, as the other two do by themselves. A
function that wants to stop early asks :data:`Report` (see :meth:`Offload.run_in_threads_reporting`).

Context variables
-----------------
Every call runs in a copy of the calling task's context: the function sees the values the
caller had set, and what it sets stays in its own copy, seen neither by the caller nor by
another call, even one that later runs on the same thread. All three libraries copy the
context per call this way (``asyncio.to_thread`` does it with ``contextvars.copy_context()``,
which the asyncio implementation does too since it submits to its own executor).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

from shared.validation import require_int

__all__ = ["Offload", "OffloadError", "Report"]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = ("check_offload_args", "check_on_progress")
"""Support code for the implementations, not contract: the argument checks that the three
packages share so that they refuse bad input alike."""

T = TypeVar("T")
R = TypeVar("R")

Report = Callable[[object], bool]
"""What :meth:`Offload.run_in_threads_reporting` passes to the function as its second argument.

``report(value)``, called in the worker thread, runs ``await on_progress(item, value)`` in the
event loop and blocks the thread until it has returned. It returns True while the call goes
on, and False once the call is stopping (cancelled, or failing on another item): then it does
not run ``on_progress`` and the function should return soon. An ``on_progress`` that has
started runs to its end even if the call is cancelled meanwhile, as a cleanup would; if it
raises, ``report`` raises the same exception in the thread.
"""


class OffloadError(Exception):
    """The function raised on :attr:`item` (the :attr:`index`-th of the input);
    ``__cause__`` is the function's exception itself.

    The same type on every flavour: never an ``ExceptionGroup``.
    """

    def __init__(self, index: int, item: object, cause: BaseException) -> None:
        super().__init__(f"offloaded call {index} on {item!r} failed: {type(cause).__name__}: {cause}")
        self.index = index
        self.item = item


class Offload(Protocol):
    """What ``impl_asyncio.offload``, ``impl_trio.offload`` and ``impl_anyio.offload`` provide."""

    async def run_in_threads(
        self,
        func: Callable[[T], R],
        items: Iterable[T],
        *,
        limit: int,
        abandon_on_cancel: bool = False,
    ) -> list[R]:
        """Call the blocking ``func(item)`` for every item in worker threads; return the results in input order.

        - [offload.limit] At most ``limit`` calls run at once, each in a thread of its own, and
          with at least ``limit`` items that block until released, exactly ``limit`` do at some
          point. The other items wait for a turn, in no promised order.
        - [offload.order] Results come back in input order, however the calls finish.
        - [offload.context] Each call runs in a copy of the caller's context (see the module's
          docstring).
        - [offload.failure] If ``func`` raises an ``Exception``, the waiting items are dropped,
          the calls still running in threads are waited for (a thread cannot be interrupted),
          and the call raises :class:`OffloadError` naming the item, with the function's
          exception itself as ``__cause__``. If several calls fail, the error names one of them.
          The token the failed call frees may pass to the next waiting item before the failure
          reaches the call's task group: that one call then starts, and is waited for like
          the others.
        - [offload.cancel] Cancelling the call drops the waiting items, waits for the calls
          running in threads, and propagates as cancellation: when it is over, none of
          ``func``'s calls is still running. An item waits for its turn in the event loop, so
          a thread freed while the loop is busy takes no item that a cancel sent before the
          loop saw the thread free drops. With ``abandon_on_cancel=True`` the call does not
          wait: the running calls are left to finish in their threads, and their results are
          dropped. This holds for a failure's cancelling of the other calls too.
        - [offload.empty] An empty ``items`` returns ``[]`` and starts no thread.

        ``items`` is read into a list before any call starts.

        Raises: [offload.args]
          TypeError: ``func`` is not callable, or is a coroutine function; ``items`` is not
            iterable; ``limit`` is not an int; ``abandon_on_cancel`` is not a bool.
          ValueError: ``limit`` is less than 1.
          OffloadError: ``func`` raised on an item.
        """
        ...

    async def run_in_threads_reporting(
        self,
        func: Callable[[T, Report], R],
        items: Iterable[T],
        *,
        limit: int,
        on_progress: Callable[[T, object], Awaitable[object]],
        abandon_on_cancel: bool = False,
    ) -> list[R]:
        """Like :meth:`run_in_threads`, but call ``func(item, report)``: a function that
        reports its progress back to the event loop.

        [offload.report] ``report(value)`` runs ``await on_progress(item, value)`` in the event
        loop, in order with the other reports of the same call, and tells the function whether
        to go on (see :data:`Report`). ``on_progress`` runs while its thread waits for it, so it
        may touch the caller's state without a lock; its return value is ignored. This is how a
        blocking function cooperates with cancellation: a ``report`` that returns False is its
        cue to return early, and the call is over as soon as it does.

        Raises: [offload.reporting.args]
          TypeError: as :meth:`run_in_threads`; ``on_progress`` is not callable.
          ValueError: as :meth:`run_in_threads`.
          OffloadError: ``func`` raised on an item (an exception from ``on_progress`` is
            raised in the thread by ``report``, and becomes the cause if ``func`` lets it out).
        """
        ...


def check_offload_args(
    func: object, items: Iterable[T], limit: object, abandon_on_cancel: object
) -> tuple[list[T], int]:
    """Validate :meth:`Offload.run_in_threads`'s arguments; return ``items`` as a list, and ``limit``."""
    if not callable(func) or inspect.iscoroutinefunction(func):
        raise TypeError(f"`func` must be a blocking (not async) callable, got {func!r}")
    try:
        item_list = list(items)
    except TypeError:
        raise TypeError(f"`items` must be iterable, got {items!r}") from None
    checked_limit = require_int("limit", limit, minimum=1)
    if not isinstance(abandon_on_cancel, bool):
        raise TypeError(f"`abandon_on_cancel` must be a bool, got {abandon_on_cancel!r}")
    return item_list, checked_limit


def check_on_progress(on_progress: object) -> None:
    """Validate :meth:`Offload.run_in_threads_reporting`'s own argument (after the others)."""
    if not callable(on_progress):
        raise TypeError(f"`on_progress` must be an async callable, got {on_progress!r}")
