"""How an error leaves a call: one exception, never a group, and the caller's own untouched.

Task groups and nurseries wrap whatever their tasks raise in an ``ExceptionGroup``, even one
error alone, and Trio's cancel scopes rebuild a group when they take their ``Cancelled`` out
of it (``BaseExceptionGroup.split`` derives a new group at every level, so a subclass comes
back as a plain ``ExceptionGroup``). The contracts promise instead that a call raises one
exception, and that an exception raised by the caller's own code (a callback, an iterable,
the body of a block) comes out as the very object that was raised. Every workload does it
the same way, in three steps:

1. The caller's code runs inside :func:`caller_code` (or through :func:`caller_callback`,
   :func:`caller_iterator`): an ``Exception`` it raises travels as a :class:`CallerError`,
   a leaf that no group rebuilds and no ``except Exception`` of ours mistakes for its own.
2. Around every task group of ours: ``except BaseExceptionGroup as group: raise
   one_error(group, ...)``. It picks one leaf of the groups our task groups built, as it
   is; since the caller's exception is a leaf's payload, no group of the caller's is
   ever opened.
3. Each public function is wrapped in :func:`surfaces_caller_errors`, which takes the
   caller's exception out of its carrier and raises it outside any ``except`` block, so its
   ``__context__`` is not overwritten either.

Support code for the implementations, not part of any workload's contract.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

__all__ = [
    "CallerError",
    "caller_callback",
    "caller_code",
    "caller_iterator",
    "one_error",
    "surfaces_caller_errors",
]

P = ParamSpec("P")
T = TypeVar("T")


class CallerError(BaseException):
    """Carries an exception raised by the caller's code out of our task groups, untouched.

    A ``BaseException``, as the libraries' cancellations are, so that no ``except
    Exception`` of ours (a job's own error, a retryable error, a handler's error) takes it
    for one of its own; and a leaf, so that no exception group is ever rebuilt around the
    caller's exception itself.
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class caller_code(AbstractContextManager[None]):
    """Around a block of the caller's code: an ``Exception`` it raises leaves as a :class:`CallerError`.

    Cancellations and other ``BaseException`` pass through as they are.
    """

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(value, Exception):
            raise CallerError(value) from None


def caller_callback(callback: Callable[P, T]) -> Callable[P, T]:
    """``callback``, with its exceptions carried as by :func:`caller_code`."""

    @functools.wraps(callback)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return callback(*args, **kwargs)
        except Exception as exc:
            raise CallerError(exc) from None

    return call


def caller_iterator(items: Iterable[T]) -> Iterator[T]:
    """Iterate ``items`` lazily, with the exceptions of each step carried as by :func:`caller_code`.

    ``iter(items)`` is called at once, so a non-iterable is refused before any work starts.
    """
    source = iter(items)

    def steps() -> Iterator[T]:
        while True:
            try:
                item = next(source)
            except StopIteration:
                return
            except Exception as exc:
                raise CallerError(exc) from None
            yield item

    return steps()


def one_error(
    group: BaseExceptionGroup[BaseException], *, failure: type[Exception] | tuple[type[Exception], ...] = ()
) -> BaseException:
    """The one exception to raise for ``group``, which one of our own task groups just raised.

    The caller's exceptions travel as :class:`CallerError` leaves, so every group met here
    is one of ours (a task group inside another adds a level) or the library's, made of its
    cancellations: this looks through all of them, and returns a leaf as it is, or
    ``group`` itself:

    - the caller's exception (a :class:`CallerError`) first: it is the caller's to handle;
    - then the first leaf that is a ``failure``, the workload's own error (the first to be
      raised when several failed in the same instant);
    - then the first other ``Exception``: a consequence of a failure (a send on a channel
      whose receiver is gone), or a bug, which must not be hidden;
    - otherwise ``group`` itself: it holds only the library's cancellations (or
      ``KeyboardInterrupt``), which must propagate as the library made them.
    """
    leaves = list(_leaves(group))
    for wanted in (CallerError, failure, Exception):
        for leaf in leaves:
            if isinstance(leaf, wanted):
                return leaf
    return group


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for member in group.exceptions:
        if isinstance(member, BaseExceptionGroup):
            yield from _leaves(member)
        else:
            yield member


class _CallerErrorsOut(AbstractAsyncContextManager[T]):
    """An async context manager whose exit raises the caller's own exception, not its carrier."""

    def __init__(self, manager: AbstractAsyncContextManager[T]) -> None:
        self._manager = manager

    async def __aenter__(self) -> T:
        try:
            return await self._manager.__aenter__()
        except CallerError as carried:
            error = carried.error
        raise error

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> bool | None:
        # When the block raised, Python is handling its exception while this runs: raising
        # the caller's exception then leaves its __context__ alone only because it is that
        # very exception (the block's own, carried out of the task group and back).
        try:
            return await self._manager.__aexit__(kind, value, traceback)
        except CallerError as carried:
            error = carried.error
        raise error


@overload
def surfaces_caller_errors(
    function: Callable[P, AbstractAsyncContextManager[T]],
) -> Callable[P, AbstractAsyncContextManager[T]]: ...
@overload
def surfaces_caller_errors(function: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]: ...
def surfaces_caller_errors(function: Callable[P, Any]) -> Callable[P, Any]:
    """Wrap a public coroutine function, or a function returning an async context manager,
    so that a :class:`CallerError` leaving it is raised as the caller's own exception.

    The exception is raised outside the ``except`` block that caught its carrier, so Python
    does not overwrite its ``__context__`` with the carrier; it is the same object, with the
    same ``__cause__`` and ``__context__``, and a traceback that goes on through our frames.
    """
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def call(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return await function(*args, **kwargs)
            except CallerError as carried:
                error = carried.error
            raise error

        return call

    @functools.wraps(function)
    def enter(*args: P.args, **kwargs: P.kwargs) -> AbstractAsyncContextManager[Any]:
        return _CallerErrorsOut(function(*args, **kwargs))

    return enter
