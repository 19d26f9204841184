"""Contract: a producer/consumer pipeline over a bounded buffer.

``producers`` tasks feed ``consumers`` tasks through a buffer that holds at most ``buffer``
items: an ``asyncio.Queue(maxsize)``, a trio memory channel with a clone per task, an anyio
memory object stream with a clone per task. :class:`Pipeline` is the specification;
``impl_*/pipeline.py`` implement it.

How the input ends
------------------
Each library ends the input its own way, and none of them by cancelling consumers after
``Queue.join()`` (the tutorial pattern): a cancelled consumer cannot report the error it was
about to raise, and one that is mid-item loses that item.

- trio and anyio: every producer owns a clone of the send end and closes it when ``items``
  runs out; when the last clone closes, each consumer's ``async for`` ends once the buffer is
  empty. Nothing has to count the producers.
- asyncio: ``Queue.shutdown()`` would do the same, but it is new in Python 3.13 and this
  project supports 3.11. So the producers run in a TaskGroup of their own, and when it has
  finished, one sentinel per consumer goes into the queue behind the last item; each consumer
  stops at the first sentinel it takes. One code path on every supported Python is what the
  suite tests; ``Queue.shutdown()`` is the change to make once 3.13 is the oldest.

Measuring backpressure
----------------------
Every implementation puts an item with the library's non-blocking call first
(``put_nowait`` / ``send_nowait``), so it knows without a race whether the buffer was full
(the put then waits, and :attr:`PipelineReport.producer_waits` counts it) and can read the
buffer's own level (``qsize()``, ``statistics().current_buffer_used``) in the same step, with
no other task running in between. The level can only rise at a put that did not wait (a put
that waited refills a slot a consumer has just emptied), so the highest level read there is
exactly the highest level the buffer ever held.

trio's and anyio's ``send()`` checkpoint on every call, so their implementations keep one
checkpoint per put; asyncio's ``Queue.put()`` and ``Queue.get()`` do not yield when they need
not wait (divergence D11), and the asyncio implementation keeps that too: each reads as its
library does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from shared.errors import caller_iterator
from shared.validation import require_int

__all__ = ["Pipeline", "PipelineError", "PipelineReport"]
"""The contract: what a caller of the workload may use."""
SUPPORT: tuple[str, ...] = ("Tally", "check_pipeline_args")
"""Support code for the implementations, not contract: argument checks and bookkeeping
that the three packages share so that they record the same things the same way."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PipelineReport:
    """What one run of :meth:`Pipeline.run_pipeline` did."""

    items_produced: int
    """Items the producers put into the buffer."""
    items_handled: int
    """Handler calls that returned; equal to ``items_produced`` after a run that returned."""
    produced_per_producer: tuple[int, ...]
    """Items put by each producer, indexed by producer. No spread is promised."""
    handled_per_consumer: tuple[int, ...]
    """Items handled by each consumer, indexed by consumer. No spread is promised: asyncio's
    ``Queue.get()`` returns a ready item without yielding, so one consumer whose handler never
    waits can take every item."""
    max_buffered: int
    """The most items the buffer held at once; never more than ``buffer``. When consumers are
    slower than producers the buffer fills, and this is ``buffer``. Below that the figure is the
    library's: an item put while a consumer is already waiting goes straight to that consumer
    in trio and anyio, but sits in asyncio's queue until the consumer runs."""
    producer_waits: int
    """Puts that found the buffer full and waited for room: the evidence of backpressure."""


class PipelineError(Exception):
    """The handler raised on :attr:`item`; ``__cause__`` is the handler's exception.

    The same type on every flavour: never an ``ExceptionGroup``.
    """

    def __init__(self, item: object, cause: BaseException) -> None:
        super().__init__(f"handling item {item!r} failed: {type(cause).__name__}: {cause}")
        self.item = item


class Pipeline(Protocol):
    """What ``impl_asyncio.pipeline``, ``impl_trio.pipeline`` and ``impl_anyio.pipeline`` provide."""

    async def run_pipeline(
        self,
        items: Iterable[T],
        *,
        handler: Callable[[T], Awaitable[object]],
        consumers: int,
        buffer: int,
        producers: int = 1,
    ) -> PipelineReport:
        """Pass every item of ``items`` through a bounded buffer to ``handler``; report on it.

        [pipeline.tasks] ``producers`` tasks take items from one shared iterator over ``items``
        and put each one into a FIFO buffer that holds at most ``buffer`` items; ``consumers``
        tasks take items out and each awaits ``handler(item)`` on one item at a time. ``items``
        is iterated lazily, as the buffer makes room; the handler's return value is ignored.

        - [pipeline.once] Every item is handled exactly once: as a multiset, the items handled
          are the items given. With one producer and one consumer the handler sees them in input
          order; otherwise no order is promised, nor any spread over the consumers.
        - [pipeline.backpressure] Backpressure: the buffer never holds more than ``buffer``
          items, and a producer whose put finds it full waits until a consumer takes one. So at
          every moment the items taken from ``items`` minus the items whose handler has returned
          number at most ``consumers + buffer + producers`` (one per consumer, a full buffer,
          one in each producer's hand), and with consumers slower than producers they reach that
          number.
        - [pipeline.input_end] When the producers have exhausted ``items`` the input ends: the
          consumers handle what is left in the buffer and exit. The call returns once every
          producer and consumer has finished, with a :class:`PipelineReport`.
        - [pipeline.handler_error] If ``handler`` raises an ``Exception``, every producer and
          consumer is cancelled, the handlers still running included, and once all have finished
          the call raises :class:`PipelineError` naming the item, with the handler's exception
          as ``__cause__``. If several handlers fail at once, the error names one of them.
          Errors that a failure causes elsewhere (a producer's send to a channel whose consumers
          have gone) are never what the call raises.
        - [pipeline.items_error] An ``Exception`` raised while iterating ``items`` stops
          everything the same way and comes out of the call as the very object raised, never in
          a group (an ``ExceptionGroup`` of the caller's included); it wins over a handler's
          failure in the same instant.
        - [pipeline.cancel] Cancelling the call cancels every producer and consumer, waits for
          them, and propagates as cancellation.
        - [pipeline.empty] An empty ``items`` returns a report of zeros.

        Raises: [pipeline.args]
          TypeError: ``items`` is not iterable; ``handler`` is not callable; ``consumers``,
            ``buffer`` or ``producers`` is not an int.
          ValueError: ``consumers``, ``buffer`` or ``producers`` is less than 1.
          PipelineError: the handler raised on an item.
        """
        ...


def check_pipeline_args(
    items: Iterable[T], handler: object, consumers: object, buffer: object, producers: object
) -> tuple[Iterator[T], int, int, int]:
    """Validate :meth:`Pipeline.run_pipeline`'s arguments; return the iterator over ``items``
    and ``consumers``, ``buffer``, ``producers``."""
    try:
        # The caller's iterator: an exception it raises leaves the call as it is (shared.errors).
        source = caller_iterator(items)
    except TypeError:
        raise TypeError(f"`items` must be iterable, got {items!r}") from None
    if not callable(handler):
        raise TypeError(f"`handler` must be an async callable, got {handler!r}")
    return (
        source,
        require_int("consumers", consumers, minimum=1),
        require_int("buffer", buffer, minimum=1),
        require_int("producers", producers, minimum=1),
    )


class Tally:
    """The counters of one run. Plain data: each implementation decides where to update them."""

    __slots__ = ("_handled", "_max_buffered", "_produced", "_waits")

    def __init__(self, producers: int, consumers: int) -> None:
        self._produced = [0] * producers
        self._handled = [0] * consumers
        self._max_buffered = 0
        self._waits = 0

    def produced(self, producer: int) -> None:
        """``producer`` has put an item into the buffer."""
        self._produced[producer] += 1

    def buffered(self, level: int) -> None:
        """The buffer holds ``level`` items, read just after a put that did not wait."""
        self._max_buffered = max(self._max_buffered, level)

    def waited(self) -> None:
        """A put found the buffer full and is about to wait for room."""
        self._waits += 1

    def handled(self, consumer: int) -> None:
        """The handler returned on an item ``consumer`` took."""
        self._handled[consumer] += 1

    def report(self) -> PipelineReport:
        return PipelineReport(
            items_produced=sum(self._produced),
            items_handled=sum(self._handled),
            produced_per_producer=tuple(self._produced),
            handled_per_consumer=tuple(self._handled),
            max_buffered=self._max_buffered,
            producer_waits=self._waits,
        )
